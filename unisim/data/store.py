"""Generate, cache and load Burgers datasets in PDEBench's HDF5 layout.

    from unisim.data import load_data, data_hash
    splits = load_data(cfg.data)            # generates once, then reuses the cache file
    splits.train.shape                      # (n_train, nt, nx) float32
    run.log_dataset(**splits.lineage())     # MLflow input: name, source=file, digest=data hash

``source: generate`` writes ``{cache_dir}/burgers_nu{nu}_{data_hash}.hdf5`` (relative to
the working directory) with ``tensor`` (N, nt, nx) float32, ``x-coordinate``,
``t-coordinate`` and attributes for nu, every generator setting and the split sizes.
Splits are index ranges: the first ``n_train`` trajectories, then ``n_val``, then
``n_test``. The file is written to a temp name and renamed when complete, under a
file lock, so an interrupted run leaves nothing that looks like data and concurrent
ranks generate it once. ``source: pdebench`` reads one of PDEBench's files instead.

Generation solves batches of ``BATCH_SIZE`` trajectories (sorted by amplitude, so each
batch's time step suits all of its members) on a thread pool, one thread per CPU (or
``UNISIM_DATA_WORKERS``); numpy releases the GIL in the FFTs. The bytes written do not
depend on the number of threads.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from unisim.config import DataConfig, data_config_hash
from unisim.data import pdebench
from unisim.data.initial import InitialConditions, draw_initial_conditions
from unisim.data.solver import (
    SOLVER_NAME,
    SOLVER_VERSION,
    STEP_FACTOR,
    check_grid,
    required_solver_nx,
    solve_burgers,
)
from unisim.errors import UnisimError

logger = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
BATCH_SIZE = 64  # trajectories per solver call; part of the recipe (the step is per batch)
DIGEST_CACHE = "pdebench_digests.json"


@dataclass(frozen=True)
class BurgersSplits:
    """Train/val/test trajectories, each ``(samples, nt, nx)`` float32, and their grid."""

    train: np.ndarray  # (n_train, nt, nx)
    val: np.ndarray  # (n_val, nt, nx)
    test: np.ndarray  # (n_test, nt, nx)
    x: np.ndarray  # (nx,) cell centres in [0, 1)
    t: np.ndarray  # (nt,) from 0 to t_final
    nu: float
    data_hash: str
    path: Path  # the HDF5 file the splits came from

    def lineage(self) -> dict[str, str]:
        """Arguments for ``TrackedRun.log_dataset``: name, source (the file), digest."""
        return {"name": self.path.stem, "source": str(self.path), "digest": self.data_hash}


@dataclass(frozen=True)
class DataFile:
    """What ``ensure_data`` did: the file, its hash, and whether it was generated now."""

    path: Path
    data_hash: str
    generated: bool
    seconds: float


# ---------------------------------------------------------------- hashing, paths


def _short(obj: Any) -> str:
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def data_hash(cfg: DataConfig) -> str:
    """16 hex chars naming the data a run sees (logged as ``unisim.data_hash``).

    Generated data: the data config hash plus the solver version, so a solver change
    invalidates caches. PDEBench files: the file's content hash plus the settings that
    pick data out of it (split sizes, downsampling).
    """
    if cfg.source == "pdebench":
        path = _pdebench_path(cfg)
        content = pdebench.file_digest(path, Path(cfg.cache_dir) / DIGEST_CACHE)
        picked = cfg.model_dump(
            mode="json", include={"n_train", "n_val", "n_test", "downsample_x", "downsample_t"}
        )
        return _short({"file": content, **picked})
    return _short({"data": data_config_hash(cfg), "solver": f"{SOLVER_NAME}/{SOLVER_VERSION}"})


def cache_path(cfg: DataConfig, digest: str | None = None) -> Path:
    """``{cache_dir}/burgers_nu{nu}_{data_hash}.hdf5`` (relative to the working directory)."""
    return Path(cfg.cache_dir) / f"burgers_nu{cfg.nu}_{digest or data_hash(cfg)}.hdf5"


def _pdebench_path(cfg: DataConfig) -> Path:
    path = Path(cfg.path or "")
    if not path.is_file():
        raise UnisimError(f"data.path: file not found: {cfg.path}")
    return path


# ---------------------------------------------------------------- generation


@dataclass(frozen=True)
class _Plan:
    ics: InitialConditions
    x_solver: np.ndarray  # (solver_nx,) the stored points are every stride-th of these
    x: np.ndarray  # (nx,)
    t: np.ndarray  # (nt,)
    batches: list[np.ndarray]  # sample indices per solver call, sorted by max|u0 - mean|


def _plan(cfg: DataConfig) -> _Plan:
    """Draw the initial conditions, check that the grid resolves them, batch them."""
    check_grid(cfg.solver_nx, cfg.nu)  # DataConfig checked nx | solver_nx and the rest
    n = cfg.n_train + cfg.n_val + cfg.n_test
    stride = cfg.solver_nx // cfg.nx
    # cell centres of the stored grid are every stride-th point of the solver grid
    x_solver = (np.arange(cfg.solver_nx) + 0.5 * stride) / cfg.solver_nx
    x = x_solver[::stride].copy()
    t = np.linspace(0.0, cfg.t_final, cfg.nt)
    ics = draw_initial_conditions(n, np.random.default_rng(cfg.seed), cfg.ic)
    jump = np.empty(n)
    spread = np.empty(n)  # max |u0 - mean u0|: sets the time step
    for lo in range(0, n, 256):
        u0 = ics.evaluate(x_solver, slice(lo, lo + 256))
        jump[lo : lo + len(u0)] = u0.max(axis=1) - u0.min(axis=1)
        spread[lo : lo + len(u0)] = np.abs(u0 - u0.mean(axis=1, keepdims=True)).max(axis=1)
    worst = float(jump.max())
    need = required_solver_nx(cfg.nu, worst)
    if cfg.solver_nx < need:
        suggest = math.ceil(need / cfg.nx) * cfg.nx
        raise UnisimError(
            f"data.solver_nx={cfg.solver_nx} is too coarse for nu={cfg.nu}: shocks up to "
            f"{worst:.3g} high are {4 * cfg.nu / math.pi / worst:.2g} wide; "
            f"set data.solver_nx={suggest} or more"
        )
    order = np.argsort(spread, kind="stable")
    batches = [np.sort(order[i : i + BATCH_SIZE]) for i in range(0, n, BATCH_SIZE)]
    return _Plan(ics, x_solver, x, t, batches)


def _workers(n_batches: int) -> int:
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS
        cpus = os.cpu_count() or 1
    from unisim.settings import load_settings

    cpus = load_settings().data_workers or cpus
    return max(1, min(cpus, n_batches, 8))


def _attrs(cfg: DataConfig, digest: str) -> dict[str, Any]:
    """Every generator setting, flat (``ic.k_tot``), plus solver identity and hashes."""
    flat: dict[str, Any] = {}
    for key, value in cfg.model_dump(mode="json", exclude={"cache_dir", "path"}).items():
        if isinstance(value, dict):
            flat.update({f"{key}.{k}": v for k, v in value.items()})
        else:
            flat[key] = value
    flat.update(
        solver=SOLVER_NAME,
        solver_version=SOLVER_VERSION,
        step_factor=STEP_FACTOR,
        dealias="2/3",
        data_hash=digest,
        data_config_hash=data_config_hash(cfg),
    )
    return flat


class _Cancelled(Exception):
    """Raised inside a worker to stop it after the main thread failed."""


def _write(cfg: DataConfig, plan: _Plan, tmp: Path, digest: str, progress: Progress | None):
    import h5py

    n, stride = len(plan.ics), cfg.solver_nx // cfg.nx
    total = n * (cfg.nt - 1)
    done = [0]
    lock = threading.Lock()
    stop = threading.Event()  # set when the main thread fails: workers quit at the next output

    def solve(index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        def tick() -> None:
            if stop.is_set():
                raise _Cancelled
            with lock:
                done[0] += len(index)

        u0 = plan.ics.evaluate(plan.x_solver, index)
        return index, solve_burgers(u0, cfg.nu, plan.t, stride=stride, on_interval=tick)

    with h5py.File(tmp, "w") as f:
        # metadata first, data last: a fixed order of operations gives the same bytes
        f.create_dataset(pdebench.X_COORD, data=plan.x.astype(np.float32), track_times=False)
        f.create_dataset(pdebench.T_COORD, data=plan.t.astype(np.float32), track_times=False)
        f.attrs.update(_attrs(cfg, digest))
        tensor = f.create_dataset(
            pdebench.TENSOR, shape=(n, cfg.nt, cfg.nx), dtype=np.float32, track_times=False
        )
        with ThreadPoolExecutor(_workers(len(plan.batches))) as pool:
            pending = {pool.submit(solve, batch) for batch in plan.batches}
            try:
                while pending:
                    finished, pending = wait(pending, timeout=0.25, return_when=FIRST_COMPLETED)
                    for future in finished:
                        index, u = future.result()
                        tensor[index] = u.astype(np.float32)  # index is increasing
                    if progress is not None:
                        with lock:
                            so_far = done[0]
                        progress(so_far, total)
            except BaseException:
                stop.set()
                for future in pending:
                    future.cancel()
                raise


def ensure_data(
    cfg: DataConfig, *, progress: Progress | None = None, force: bool = False
) -> DataFile:
    """Make sure the cache file for ``cfg`` exists (generate it if not, or if ``force``)."""
    from filelock import FileLock

    from unisim.fsutil import atomic_path

    if cfg.source == "pdebench":
        path = _pdebench_path(cfg)
        return DataFile(path, data_hash(cfg), generated=False, seconds=0.0)
    digest = data_hash(cfg)
    path = cache_path(cfg, digest)
    if path.is_file() and not force:
        return DataFile(path, digest, generated=False, seconds=0.0)
    plan = _plan(cfg)  # every check before the first byte is written
    start = time.perf_counter()
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path.parent / f".{path.name}.lock")):
        if path.is_file() and not force:  # another process made it while we waited
            return DataFile(path, digest, generated=False, seconds=0.0)
        logger.info(
            "generating %d Burgers trajectories (nu=%s, %d points, %d times) -> %s",
            len(plan.ics),
            cfg.nu,
            cfg.solver_nx,
            cfg.nt,
            path,
        )
        with atomic_path(path, suffix=".hdf5") as tmp:
            _write(cfg, plan, tmp, digest, progress)
            tmp.chmod(0o644)  # mkstemp made it private; other ranks and users read it
    seconds = time.perf_counter() - start
    logger.info("wrote %s in %.1f s", path, seconds)
    return DataFile(path, digest, generated=True, seconds=seconds)


# ---------------------------------------------------------------- loading


def check_split_sizes(path: Path, attrs: dict[str, Any], n_total: int) -> None:
    sizes = [attrs.get(k) for k in ("n_train", "n_val", "n_test")]
    if any(s is None for s in sizes):
        return
    if any(int(s) < 1 for s in sizes) or sum(int(s) for s in sizes) != n_total:
        raise UnisimError(
            f"{path}: split sizes n_train={sizes[0]} + n_val={sizes[1]} + n_test={sizes[2]} "
            f"do not add up to the {n_total} trajectories in '{pdebench.TENSOR}'"
        )


SPLITS = ("train", "val", "test")
READ_LOG_ENV = "UNISIM_DATA_READ_LOG"  # a file: one "split<TAB>path" line per split read


def load_data(
    cfg: DataConfig, *, progress: Progress | None = None, splits: tuple[str, ...] = SPLITS
) -> BurgersSplits:
    """The train/val/test splits for ``cfg``, generating (and caching) them when needed.

    ``progress(done, total)`` is called from the calling thread while generating, in
    units of trajectory time intervals (``total = trajectories * (nt - 1)``); never on a
    cache hit. ``splits``: the ones to read; the others come back empty (0, nt, nx) and
    their rows are never read (a sweep reads train and val only). With
    ``UNISIM_DATA_READ_LOG`` set, each split read appends a line to that file (tests).
    """
    made = ensure_data(cfg, progress=progress)
    n = cfg.n_train + cfg.n_val + cfg.n_test
    (n_file, nt_file, nx_file), attrs = pdebench.peek(made.path)
    nu = pdebench.file_nu(made.path, attrs)
    if cfg.source == "generate":
        check_split_sizes(made.path, attrs, n_file)
        if attrs.get("data_hash") != made.data_hash or n_file != n:
            raise UnisimError(
                f"{made.path}: not the data this config describes (data_hash "
                f"{attrs.get('data_hash')}, expected {made.data_hash}); delete the file"
            )
    else:
        if n > n_file:
            raise UnisimError(
                f"data: n_train={cfg.n_train} + n_val={cfg.n_val} + n_test={cfg.n_test} = {n} "
                f"trajectories, but {made.path} has {n_file}"
            )
        if (cfg.nx, cfg.nt) != (nx_file, nt_file):
            raise UnisimError(
                f"data: nx={cfg.nx}, nt={cfg.nt} but {made.path} has {nx_file} points and "
                f"{nt_file} times; set data.nx={nx_file} data.nt={nt_file}"
            )
        if nu is not None and not pdebench.same_nu(nu, cfg.nu):
            raise UnisimError(f"data.nu={cfg.nu} but {made.path} holds nu={nu}; set data.nu={nu}")
    a, b = cfg.n_train, cfg.n_train + cfg.n_val
    # rows are read from the top: the test split (last) is skipped when not asked for
    rows = n if "test" in splits else b if "val" in splits else a
    layout = pdebench.read_layout(made.path, rows, cfg.downsample_x, cfg.downsample_t)
    _log_reads(made.path, splits)
    empty = layout.tensor[:0]
    return BurgersSplits(
        train=layout.tensor[:a] if "train" in splits else empty,
        val=layout.tensor[a:b] if "val" in splits else empty,
        test=layout.tensor[b:n] if "test" in splits else empty,
        x=layout.x,
        t=layout.t,
        nu=float(nu if nu is not None else cfg.nu),
        data_hash=made.data_hash,
        path=made.path,
    )


def _log_reads(path: Path, splits: tuple[str, ...]) -> None:
    log_path = os.environ.get(READ_LOG_ENV)
    if log_path:
        with open(log_path, "a", encoding="utf-8") as fh:
            fh.writelines(f"{split}\t{path}\n" for split in splits)
