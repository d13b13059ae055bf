"""Generate, cache and load PDE datasets (any family in ``unisim.pdes``) in PDEBench's HDF5 layout.

    from unisim.data import load_data, load_heldout, data_hash
    splits = load_data(cfg.data)            # generates once, then reuses the cache file
    splits.train.shape                      # (n_train, nt, nx) float32
    splits.coeffs["train"]                  # (n_train, C) float64: per-trajectory coefficients
    splits.conditioning("train")            # (n_train, C) float32: what models are told
    held = load_heldout(cfg.data)           # the held-out split, generated on first use
    run.log_dataset(**splits.lineage())     # MLflow input: name, source=file, digest=data hash

``source: generate`` writes ``{cache_dir}/{pde.cache_name(spec)}_{data_hash}.hdf5``
(``burgers_nu0.01_<hash>.hdf5``; relative to the working directory) with ``tensor``
(N, nt, nx) float32, ``x-coordinate``, ``t-coordinate``, attributes for every generator
setting and the split sizes, fixed coefficients as attributes (``nu``) and, when a
coefficient varies per trajectory, a ``coefficients`` dataset (N, C). Splits are index
ranges: the first ``n_train`` trajectories, then ``n_val``, then ``n_test``. The file is
written to a temp name and renamed when complete, under a file lock, so an interrupted
run leaves nothing that looks like data and concurrent ranks generate it once.
``source: pdebench`` reads one of PDEBench's files of the equation's family instead.

Random streams: the initial conditions of train/val/test come from
``default_rng(seed)`` in one draw (as before the PDE seam: Burgers data keeps its bytes),
their coefficients from ``SeedSequence([seed, 1])`` (a fixed coefficient draws nothing).
The held-out split (``data.n_heldout``) is a file of its own with its own streams
(``SeedSequence([seed, 2])`` and ``[seed, 3]``): adding it, or changing its size, changes
no other split, and it is generated only when something asks for it.

Generation solves batches of ``BATCH_SIZE`` trajectories (in ``pde.batch_order``, so each
batch's time step suits all of its members) on a thread pool, one thread per CPU (or
``UNISIM_DATA_WORKERS``); numpy releases the GIL in the FFTs. The bytes written do not
depend on the number of threads.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from unisim.config import DataConfig, data_config_hash
from unisim.data import pdebench
from unisim.data.solver import SOLVER_NAME, SOLVER_VERSION
from unisim.errors import UnisimError
from unisim.pdes import PDE, Grid, get_pde
from unisim.pdes.initial import InitialConditions
from unisim.pdes.pdebench import COEFFICIENTS

logger = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
BATCH_SIZE = 64  # trajectories per solver call; part of the recipe (the step is per batch)
DIGEST_CACHE = "pdebench_digests.json"
SPLITS = ("train", "val", "test")
HELDOUT = "heldout"
# SeedSequence keys of the streams besides the legacy default_rng(seed) one
_COEFF_STREAM, _HELDOUT_IC_STREAM, _HELDOUT_COEFF_STREAM = 1, 2, 3


@dataclass(frozen=True)
class Splits:
    """Train/val/test trajectories, each ``(samples, nt, nx)`` float32, their coefficients
    ``(samples, C)`` float64, and their grid. ``heldout`` is set by ``load_heldout``."""

    train: np.ndarray  # (n_train, nt, nx)
    val: np.ndarray  # (n_val, nt, nx)
    test: np.ndarray  # (n_test, nt, nx)
    x: np.ndarray  # (nx,) cell centres in [0, 1)
    t: np.ndarray  # (nt,) from 0 to t_final
    pde_name: str
    coeffs: dict[str, np.ndarray]  # split -> (samples, C) float64
    data_hash: str
    path: Path  # the HDF5 file the splits came from
    heldout: np.ndarray | None = None  # (n_heldout, nt, nx), from its own file
    extra: dict[str, Any] = field(default_factory=dict)  # heldout path and hash

    @property
    def pde(self) -> PDE:
        return get_pde(self.pde_name)

    def trajectories(self, split: str) -> np.ndarray:
        value = getattr(self, split, None) if split in (*SPLITS, HELDOUT) else None
        if value is None:
            raise UnisimError(f"split {split!r} is not loaded (one of {', '.join(SPLITS)})")
        return value

    def conditioning(self, split: str, coeffs: np.ndarray | None = None) -> np.ndarray:
        """(samples, C) float32: the split's coefficients (or ``coeffs``) normalised by the PDE."""
        return self.pde.conditioning(self.coeffs[split] if coeffs is None else coeffs)

    @property
    def nu(self) -> float | None:
        """Burgers' viscosity when every trajectory shares one (older callers), else None."""
        if self.pde_name != "burgers":
            return None
        values = np.unique(np.concatenate([self.coeffs[s][:, 0] for s in SPLITS]))
        return float(values[0]) if len(values) == 1 else None

    def lineage(self) -> dict[str, str]:
        """Arguments for ``TrackedRun.log_dataset``: name, source (the file), digest."""
        return {"name": self.path.stem, "source": str(self.path), "digest": self.data_hash}


BurgersSplits = Splits  # the name before the PDE seam


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


def _solver_id(cfg: DataConfig) -> str:
    pde = cfg.pde
    # Burgers keeps the identity it had before the seam (SOLVER_NAME/SOLVER_VERSION)
    if pde.name == "burgers":
        return f"{SOLVER_NAME}/{SOLVER_VERSION}"
    return f"{pde.name}:{pde.solver_version}"


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
    return _short({"data": data_config_hash(cfg), "solver": _solver_id(cfg)})


def heldout_hash(cfg: DataConfig) -> str:
    """The held-out file's hash: the data settings but the split sizes, and ``n_heldout``."""
    if cfg.source == "pdebench":
        return data_hash(cfg.model_copy(update={"n_test": cfg.n_test + cfg.n_heldout}))
    base = cfg.model_copy(update={"n_train": 1, "n_val": 1, "n_test": 1})
    return _short(
        {
            "data": data_config_hash(base),
            "solver": _solver_id(cfg),
            "split": HELDOUT,
            "n_heldout": cfg.n_heldout,
            "coefficients": {k: _draw_json(v) for k, v in cfg.heldout_coefficients.items()},
        }
    )


def _draw_json(draw: Any) -> Any:
    return draw.model_dump(mode="json") if hasattr(draw, "model_dump") else draw


def cache_path(cfg: DataConfig, digest: str | None = None) -> Path:
    """``{cache_dir}/{pde cache name}_{data_hash}.hdf5`` (relative to the working directory)."""
    stem = cfg.pde.cache_name(cfg.equation)
    return Path(cfg.cache_dir) / f"{stem}_{digest or data_hash(cfg)}.hdf5"


def heldout_path(cfg: DataConfig, digest: str | None = None) -> Path:
    stem = cfg.pde.cache_name(cfg.heldout_spec)
    return Path(cfg.cache_dir) / f"{stem}_{HELDOUT}_{digest or heldout_hash(cfg)}.hdf5"


def _pdebench_path(cfg: DataConfig) -> Path:
    path = Path(cfg.path or "")
    if not path.is_file():
        raise UnisimError(f"data.path: file not found: {cfg.path}")
    return path


# ---------------------------------------------------------------- generation


@dataclass(frozen=True)
class _Plan:
    ics: InitialConditions
    coeffs: np.ndarray  # (n, C)
    grid: Grid
    spec: Any  # the equation spec the trajectories are drawn from
    batches: list[np.ndarray]  # sample indices per solver call, in pde.batch_order


def _plan(cfg: DataConfig, *, heldout: bool = False) -> _Plan:
    """Draw the initial conditions and coefficients, check the grid resolves them, batch them."""
    pde = cfg.pde
    grid = Grid(nx=cfg.nx, nt=cfg.nt, t_final=cfg.t_final, solver_nx=cfg.solver_nx)
    if heldout:
        n, spec = cfg.n_heldout, cfg.heldout_spec
        ic_rng = np.random.default_rng(np.random.SeedSequence([cfg.seed, _HELDOUT_IC_STREAM]))
        c_seq = np.random.SeedSequence([cfg.seed, _HELDOUT_COEFF_STREAM])
    else:
        n, spec = cfg.n_train + cfg.n_val + cfg.n_test, cfg.equation
        ic_rng = np.random.default_rng(cfg.seed)  # the stream from before the PDE seam
        c_seq = np.random.SeedSequence([cfg.seed, _COEFF_STREAM])
    ics = pde.draw_initial_conditions(ic_rng, n, spec)
    coeffs = pde.draw_coefficients(np.random.default_rng(c_seq), n, spec)
    u0 = ics.evaluate(grid.x_solver)  # (n, solver_nx) float64: measured, then dropped
    pde.check_grid(cfg.nx, cfg.solver_nx, coeffs, spec, u0)  # ConfigError naming the key
    order = pde.batch_order(u0, coeffs, spec)
    batches = [np.sort(order[i : i + BATCH_SIZE]) for i in range(0, n, BATCH_SIZE)]
    return _Plan(ics, coeffs, grid, spec, batches)


def _workers(n_batches: int) -> int:
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS
        cpus = os.cpu_count() or 1
    from unisim.settings import load_settings

    cpus = load_settings().data_workers or cpus
    return max(1, min(cpus, n_batches, 8))


def _flat(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flat(f"{prefix}.{k}" if prefix else k, v, out)
    elif isinstance(value, list):
        out[prefix] = json.dumps(value)  # draws: sets and ranges (HDF5 attrs are flat)
    else:
        out[prefix] = value


def _attrs(cfg: DataConfig, plan: _Plan, digest: str) -> dict[str, Any]:
    """Every generator setting, flat (``equation.ic.k_tot``), solver identity, hashes, and
    each coefficient that is the same for every trajectory (``nu``: PDEBench's readers)."""
    flat: dict[str, Any] = {}
    dump = cfg.model_dump(mode="json", exclude={"cache_dir", "path", "heldout_coefficients"})
    dump["equation"] = plan.spec.model_dump(mode="json")
    if plan.spec is not cfg.equation:
        dump.update(n_train=0, n_val=0, n_test=len(plan.ics))  # a held-out file
    _flat("", dump, flat)
    flat = {k: v for k, v in flat.items() if v is not None}
    pde = cfg.pde
    for i, c in enumerate(pde.coefficients):
        column = plan.coeffs[:, i]
        if len(column) and np.all(column == column[0]):
            flat[c.name] = float(column[0])
    flat.update(
        pde=pde.name,
        solver=_solver_id(cfg).rsplit("/", 1)[0],
        solver_version=pde.solver_version,
        data_hash=digest,
        data_config_hash=data_config_hash(cfg),
    )
    return flat


class _Cancelled(Exception):
    """Raised inside a worker to stop it after the main thread failed."""


def _write(cfg: DataConfig, plan: _Plan, tmp: Path, digest: str, progress: Progress | None):
    import h5py

    pde, grid, n = cfg.pde, plan.grid, len(plan.ics)
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

        u0 = plan.ics.evaluate(grid.x_solver, index)
        return index, pde.solve(u0, plan.coeffs[index], grid, plan.spec, on_interval=tick)

    with h5py.File(tmp, "w") as f:
        # metadata first, data last: a fixed order of operations gives the same bytes
        f.create_dataset(pdebench.X_COORD, data=grid.x.astype(np.float32), track_times=False)
        f.create_dataset(pdebench.T_COORD, data=grid.t.astype(np.float32), track_times=False)
        attrs = _attrs(cfg, plan, digest)
        f.attrs.update(attrs)
        if any(c.name not in attrs for c in pde.coefficients):  # some vary per trajectory
            table = f.create_dataset(COEFFICIENTS, data=plan.coeffs, track_times=False)
            table.attrs["names"] = ",".join(pde.coefficient_names)
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


def _generate(
    cfg: DataConfig,
    path: Path,
    digest: str,
    *,
    heldout: bool,
    progress: Progress | None,
    force: bool,
) -> DataFile:
    from filelock import FileLock

    from unisim.fsutil import atomic_path

    if path.is_file() and not force:
        return DataFile(path, digest, generated=False, seconds=0.0)
    plan = _plan(cfg, heldout=heldout)  # every check before the first byte is written
    start = time.perf_counter()
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path.parent / f".{path.name}.lock")):
        if path.is_file() and not force:  # another process made it while we waited
            return DataFile(path, digest, generated=False, seconds=0.0)
        logger.info(
            "generating %d %s trajectories (%s, %d points, %d times) -> %s",
            len(plan.ics),
            cfg.pde.name,
            cfg.pde.cache_name(plan.spec),
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


def check_data(cfg: DataConfig) -> None:
    """Refuse (ConfigError, exit 2) generated data the grid cannot carry, before any run
    opens: draws the initial conditions and coefficients and checks them (no solving).
    Nothing to do for PDEBench files or a cache file that exists already."""
    if cfg.source == "generate" and not cache_path(cfg).is_file():
        _plan(cfg)


def ensure_data(
    cfg: DataConfig, *, progress: Progress | None = None, force: bool = False
) -> DataFile:
    """Make sure the cache file for ``cfg`` exists (generate it if not, or if ``force``)."""
    if cfg.source == "pdebench":
        path = _pdebench_path(cfg)
        return DataFile(path, data_hash(cfg), generated=False, seconds=0.0)
    digest = data_hash(cfg)
    path = cache_path(cfg, digest)
    return _generate(cfg, path, digest, heldout=False, progress=progress, force=force)


# ---------------------------------------------------------------- loading


def check_split_sizes(path: Path, attrs: dict[str, Any], n_total: int) -> None:
    sizes = [attrs.get(k) for k in ("n_train", "n_val", "n_test")]
    if any(s is None for s in sizes):
        return
    if any(int(s) < 0 for s in sizes) or sum(int(s) for s in sizes) != n_total:
        raise UnisimError(
            f"{path}: split sizes n_train={sizes[0]} + n_val={sizes[1]} + n_test={sizes[2]} "
            f"do not add up to the {n_total} trajectories in '{pdebench.TENSOR}'"
        )


READ_LOG_ENV = "UNISIM_DATA_READ_LOG"  # a file: one "split<TAB>path" line per split read


def _check_pdebench(cfg: DataConfig, path: Path, n: int, shape: tuple[int, int, int]) -> None:
    n_file, nt_file, nx_file = shape
    if n > n_file:
        raise UnisimError(
            f"data: n_train={cfg.n_train} + n_val={cfg.n_val} + n_test={cfg.n_test} = {n} "
            f"trajectories, but {path} has {n_file}"
        )
    if (cfg.nx, cfg.nt) != (nx_file, nt_file):
        raise UnisimError(
            f"data: nx={cfg.nx}, nt={cfg.nt} but {path} has {nx_file} points and "
            f"{nt_file} times; set data.nx={nx_file} data.nt={nt_file}"
        )


def _check_file_coefficients(cfg: DataConfig, path: Path, coeffs: np.ndarray) -> None:
    """A PDEBench file of fixed coefficients must hold the ones the config names."""
    for i, c in enumerate(cfg.pde.coefficients):
        draw = getattr(cfg.equation, c.name)
        if not isinstance(draw, (int, float)):
            continue  # a set or range: the file's values are what they are
        found = np.unique(coeffs[:, i])
        if len(found) and not all(pdebench.same_nu(float(v), float(draw)) for v in found):
            value = f"{float(found[0]):g}"
            raise UnisimError(
                f"data.equation.{c.name}={float(draw):g} but {path} holds {c.name}={value}; "
                f"set data.equation.{c.name}={value}"
            )


def _read(cfg: DataConfig, path: Path, n: int) -> Any:
    """The first ``n`` trajectories and their coefficients (``PDEBenchData``)."""
    from unisim.errors import ConfigError

    try:
        return cfg.pde.read_pdebench(path, n, cfg.downsample_x, cfg.downsample_t)
    except ConfigError as exc:
        raise UnisimError(str(exc)) from None


def load_data(
    cfg: DataConfig, *, progress: Progress | None = None, splits: tuple[str, ...] = SPLITS
) -> Splits:
    """The train/val/test splits for ``cfg``, generating (and caching) them when needed.

    ``progress(done, total)`` is called from the calling thread while generating, in
    units of trajectory time intervals (``total = trajectories * (nt - 1)``); never on a
    cache hit. ``splits``: the ones to read; the others come back empty (0, nt, nx) and
    their rows are never read (a sweep reads train and val only). With
    ``UNISIM_DATA_READ_LOG`` set, each split read appends a line to that file (tests).
    """
    made = ensure_data(cfg, progress=progress)
    n = cfg.n_train + cfg.n_val + cfg.n_test
    shape, attrs = pdebench.peek(made.path)
    if cfg.source == "generate":
        check_split_sizes(made.path, attrs, shape[0])
        if attrs.get("data_hash") != made.data_hash or shape[0] != n:
            raise UnisimError(
                f"{made.path}: not the data this config describes (data_hash "
                f"{attrs.get('data_hash')}, expected {made.data_hash}); delete the file"
            )
    else:
        _check_pdebench(cfg, made.path, n, shape)
    a, b = cfg.n_train, cfg.n_train + cfg.n_val
    # rows are read from the top: the test split (last) is skipped when not asked for
    rows = n if "test" in splits else b if "val" in splits else a if "train" in splits else 0
    data = _read(cfg, made.path, rows)
    if cfg.source == "pdebench":
        _check_file_coefficients(cfg, made.path, data.coeffs)
    _log_reads(made.path, splits)

    def part(name: str, lo: int, hi: int, values: np.ndarray) -> np.ndarray:
        return values[lo:hi] if name in splits else values[:0]

    return Splits(
        train=part("train", 0, a, data.tensor),
        val=part("val", a, b, data.tensor),
        test=part("test", b, n, data.tensor),
        x=data.x,
        t=data.t,
        pde_name=cfg.pde.name,
        coeffs={
            "train": part("train", 0, a, data.coeffs),
            "val": part("val", a, b, data.coeffs),
            "test": part("test", b, n, data.coeffs),
        },
        data_hash=made.data_hash,
        path=made.path,
    )


def _log_reads(path: Path, splits: tuple[str, ...]) -> None:
    log_path = os.environ.get(READ_LOG_ENV)
    if log_path:
        with open(log_path, "a", encoding="utf-8") as fh:
            fh.writelines(f"{split}\t{path}\n" for split in splits)


def load_heldout(
    cfg: DataConfig, splits: Splits | None = None, *, progress: Progress | None = None
) -> Splits:
    """``splits`` (loaded when None) with the held-out split added.

    Generated data: its own file, made on first use from its own seed streams (and
    ``data.heldout_coefficients`` when set). A PDEBench file: the ``n_heldout``
    trajectories after train, val and test.
    """
    import dataclasses

    splits = splits if splits is not None else load_data(cfg, progress=progress)
    if cfg.n_heldout < 1:
        raise UnisimError("data.n_heldout=0: there is no held-out split; set data.n_heldout")
    n = cfg.n_train + cfg.n_val + cfg.n_test
    if cfg.source == "pdebench":
        shape, _ = pdebench.peek(splits.path)
        if n + cfg.n_heldout > shape[0]:
            raise UnisimError(
                f"data.n_heldout={cfg.n_heldout}: {splits.path} has {shape[0]} trajectories, "
                f"{n} of them in train/val/test; set data.n_heldout={max(shape[0] - n, 0)}"
            )
        data = _read(cfg, splits.path, n + cfg.n_heldout)
        u, coeffs = data.tensor[n:], data.coeffs[n:]
        path, digest = splits.path, heldout_hash(cfg)
    else:
        digest = heldout_hash(cfg)
        made = _generate(
            cfg, heldout_path(cfg, digest), digest, heldout=True, progress=progress, force=False
        )
        shape, attrs = pdebench.peek(made.path)
        if attrs.get("data_hash") != digest or shape[0] != cfg.n_heldout:
            raise UnisimError(
                f"{made.path}: not the held-out data this config describes; delete the file"
            )
        data = _read(cfg, made.path, cfg.n_heldout)
        u, coeffs, path = data.tensor, data.coeffs, made.path
    _log_reads(path, (HELDOUT,))
    return dataclasses.replace(
        splits,
        heldout=u,
        coeffs={**splits.coeffs, HELDOUT: coeffs},
        extra={**splits.extra, "heldout_path": path, "heldout_hash": digest},
    )
