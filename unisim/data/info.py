"""Summarise a Burgers HDF5 file (ours or PDEBench's): shapes, nu, splits, physics statistics.

    from unisim.data.info import describe
    info = describe("data/cache/burgers_nu0.01_0123456789abcdef.hdf5")
    info["shape"], info["nu"], info["stats"]["max_mean_drift"]

Statistics are computed trajectory block by trajectory block (bounded memory) on the
stored float32 values, in float64:

* ``mean``: the spatial mean of u at t=0 (min / max over trajectories) and its largest
  drift ``max |mean_x u(t) - mean_x u(0)|`` (conserved on a periodic domain; float32
  storage limits it to ~1e-7);
* ``energy``: ``E(t) = mean_x u^2``; the mean of E at the first and last time, and the
  largest step-to-step increase relative to E(0) (viscous Burgers never gains energy);
* ``u_min`` / ``u_max`` and the number of non-finite values.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from unisim.data import pdebench
from unisim.data.store import check_split_sizes

_BLOCK_BYTES = 64 << 20


def describe(
    path: str | Path, *, progress: Callable[[int, int], None] | None = None
) -> dict[str, Any]:
    """Shapes, nu, split sizes, generator settings and statistics of ``path``.

    ``progress(done, total)`` reports trajectories read (PDEBench's files are ~8 GB).
    """
    path = Path(path)
    f, (n, nt, nx) = pdebench.open_checked(path)
    with f:
        attrs = {k: pdebench.plain(v) for k, v in f.attrs.items()}
        check_split_sizes(path, attrs, n)
        x = np.asarray(f[pdebench.X_COORD][:], dtype=np.float64)
        t = np.asarray(f[pdebench.T_COORD][:nt], dtype=np.float64)
        stats = _statistics(f[pdebench.TENSOR], n, nt, nx, progress)
    nu = pdebench.file_nu(path, attrs)
    splits = {k: int(attrs[k]) for k in ("n_train", "n_val", "n_test") if k in attrs}
    return {
        "path": str(path),
        "pde": attrs.get("pde"),  # unisim's files; None for PDEBench's own
        "shape": [n, nt, nx],
        "nu": nu,
        "nu_from": "attribute" if "nu" in attrs else ("file name" if nu is not None else None),
        "x": [float(x[0]), float(x[-1])],
        "t": [float(t[0]), float(t[-1])],
        "splits": splits or None,
        "attrs": attrs,
        "stats": stats,
    }


def _statistics(
    dset: Any, n: int, nt: int, nx: int, progress: Callable[[int, int], None] | None
) -> dict[str, float | int]:
    step = max(1, _BLOCK_BYTES // (4 * nt * nx))
    u_min, u_max, nonfinite = np.inf, -np.inf, 0
    mean0_min, mean0_max, drift = np.inf, -np.inf, 0.0
    e_first, e_last, e_rise = 0.0, 0.0, -np.inf
    for lo in range(0, n, step):
        u = np.asarray(dset[lo : lo + step], dtype=np.float64)  # (b, nt, nx)
        finite = np.isfinite(u)
        nonfinite += int(u.size - finite.sum())
        if not finite.all():
            u = np.where(finite, u, 0.0)
        u_min, u_max = min(u_min, float(u.min())), max(u_max, float(u.max()))
        mean = u.mean(axis=2)  # (b, nt)
        mean0_min = min(mean0_min, float(mean[:, 0].min()))
        mean0_max = max(mean0_max, float(mean[:, 0].max()))
        drift = max(drift, float(np.abs(mean - mean[:, :1]).max()))
        energy = (u**2).mean(axis=2)  # (b, nt)
        e_first += float(energy[:, 0].sum())
        e_last += float(energy[:, -1].sum())
        if nt > 1:
            rise = np.diff(energy, axis=1) / np.maximum(energy[:, :1], 1e-30)
            e_rise = max(e_rise, float(rise.max()))
        if progress is not None and n > step:  # a bar only when there is more than one read
            progress(min(n, lo + step), n)
    return {
        "u_min": u_min,
        "u_max": u_max,
        "nonfinite": nonfinite,
        "mean_t0_min": mean0_min,
        "mean_t0_max": mean0_max,
        "max_mean_drift": drift,
        "energy_t0": e_first / n,
        "energy_final": e_last / n,
        "max_energy_increase": e_rise if nt > 1 else 0.0,
    }
