"""PDEBench's 1D Burgers HDF5 layout: read (with the baselines' downsampling) and fingerprint.

    from unisim.data.pdebench import read_layout, file_digest
    layout = read_layout("1D_Burgers_Sols_Nu0.01.hdf5", n=352, downsample_x=4, downsample_t=5)
    layout.tensor.shape          # (352, 41, 256) float32; layout.x (256,), layout.t (41,)

The layout (``pdebench/data_gen/data_gen_NLE``, files ``1D_Burgers_Sols_Nu*.hdf5``):

* ``tensor``: (N, T, X) float32, u on the grid for every trajectory and stored time;
* ``x-coordinate``: (X,) cell centres in [0, 1);
* ``t-coordinate``: (T,) or, in PDEBench's own files, (T + 1,) with one extra time at
  the end that has no data (their merge script writes it); the extra entry is dropped.

Downsampling as PDEBench's baselines do it (``FNODatasetSingle``):
``tensor[:, ::downsample_t, ::downsample_x]``; 1024 x 201 with (x4, x5) -> 256 x 41.
unisim's generated files use the same layout plus attributes (nu, generator settings,
split sizes). This module imports neither torch nor mlflow.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from unisim.errors import UnisimError

TENSOR = "tensor"
X_COORD = "x-coordinate"
T_COORD = "t-coordinate"
_NU_IN_NAME = re.compile(r"Nu([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)")
_READ_CHUNK = 16 << 20  # bytes per read while hashing


@dataclass(frozen=True)
class Layout:
    """The first ``n`` trajectories of a file, downsampled; ``attrs`` are the file's attributes."""

    tensor: np.ndarray  # (n, T', X') float32
    x: np.ndarray  # (X',) float64
    t: np.ndarray  # (T',) float64
    n_total: int  # trajectories in the file
    shape: tuple[int, int, int]  # the file's (N, T, X) before downsampling
    attrs: dict[str, Any] = field(default_factory=dict)


def _h5py():
    import h5py

    return h5py


def nu_from_name(path: str | Path) -> float | None:
    """``1D_Burgers_Sols_Nu0.01.hdf5`` -> 0.01; None when the name carries no nu."""
    match = _NU_IN_NAME.search(Path(path).name)
    return float(match.group(1)) if match else None


def plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def open_checked(path: str | Path):
    """Open ``path`` read-only and check the layout; returns ``(h5py.File, (N, T, X))``."""
    path = Path(path)
    if not path.is_file():
        raise UnisimError(f"{path}: file not found")
    h5py = _h5py()
    try:
        f = h5py.File(path, "r")
    except OSError:
        raise UnisimError(f"{path}: not an HDF5 file") from None
    try:
        if TENSOR not in f or not isinstance(f[TENSOR], h5py.Dataset):
            raise UnisimError(f"{path}: no '{TENSOR}' dataset (not PDEBench's layout)")
        shape = f[TENSOR].shape
        if len(shape) != 3 or min(shape) < 1:
            raise UnisimError(f"{path}: '{TENSOR}' must be (N, T, X), got shape {shape}")
        for name, size in ((X_COORD, (shape[2],)), (T_COORD, (shape[1], shape[1] + 1))):
            if name not in f:
                raise UnisimError(f"{path}: no '{name}' dataset (not PDEBench's layout)")
            if f[name].ndim != 1 or f[name].shape[0] not in size:
                raise UnisimError(
                    f"{path}: '{name}' has {f[name].shape} entries for a tensor of shape {shape}"
                )
    except BaseException:
        f.close()
        raise
    return f, tuple(int(s) for s in shape)


def peek(path: str | Path) -> tuple[tuple[int, int, int], dict[str, Any]]:
    """The layout-checked ``(N, T, X)`` shape and the attributes, without reading data."""
    f, shape = open_checked(path)
    with f:
        return shape, {k: plain(v) for k, v in f.attrs.items()}


def read_layout(
    path: str | Path, n: int | None = None, downsample_x: int = 1, downsample_t: int = 1
) -> Layout:
    """Read the first ``n`` trajectories (all when None), downsampled in x and t."""
    path = Path(path)
    f, shape = open_checked(path)
    with f:
        total, nt, nx = shape
        if downsample_x < 1 or nx % downsample_x:
            raise UnisimError(
                f"data.downsample_x={downsample_x} must divide the {nx} grid points of {path} "
                "(a periodic grid must stay uniform)"
            )
        if downsample_t < 1:
            raise UnisimError(f"data.downsample_t must be >= 1 (got {downsample_t})")
        n = total if n is None else n
        if n > total:
            raise UnisimError(f"{path}: needs {n} trajectories but the file has {total}")
        # Read blocks of whole trajectories (h5py is slow on strided hyperslabs) and
        # subsample each block, so memory stays ~ the downsampled result.
        t_idx, x_idx = slice(None, None, downsample_t), slice(None, None, downsample_x)
        tensor = np.empty((n, len(range(nt)[t_idx]), nx // downsample_x), dtype=np.float32)
        step = max(1, _READ_CHUNK // (4 * nt * nx))
        for lo in range(0, n, step):
            block = f[TENSOR][lo : min(n, lo + step)]
            tensor[lo : lo + len(block)] = block[:, t_idx, x_idx]
        x = np.asarray(f[X_COORD][:], dtype=np.float64)[::downsample_x]
        t = np.asarray(f[T_COORD][:nt], dtype=np.float64)[::downsample_t]
        attrs = {k: plain(v) for k, v in f.attrs.items()}
    return Layout(tensor, x, t, total, shape, attrs)


def file_nu(path: str | Path, attrs: dict[str, Any]) -> float | None:
    """nu from the ``nu`` attribute, else from the name (PDEBench's files have no attributes)."""
    if "nu" in attrs:
        return float(attrs["nu"])
    return nu_from_name(path)


def same_nu(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-6, abs_tol=0.0)


def content_sha256(path: str | Path) -> str:
    """SHA-256 of the file's bytes, streamed (PDEBench's files are several GB)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_READ_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def file_digest(path: str | Path, cache_file: str | Path | None = None) -> str:
    """Content SHA-256 of ``path``, remembered in ``cache_file`` by (path, size, mtime)."""
    from unisim.fsutil import read_json, update_json

    path = Path(path).resolve()
    stat = path.stat()
    key = f"{path}|{stat.st_size}|{stat.st_mtime_ns}"
    if cache_file is not None:
        try:
            known = read_json(cache_file, default={}) or {}
        except (ValueError, OSError):  # a damaged cache only costs a re-hash
            known = {}
        if isinstance(known, dict) and isinstance(known.get(key), str):
            return known[key]
    digest = content_sha256(path)
    if cache_file is not None:
        # a read-only cache dir only costs a re-hash next time
        with contextlib.suppress(OSError):
            update_json(cache_file, {key: digest})
    return digest
