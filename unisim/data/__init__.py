"""PDE data: a generator for every family in ``unisim.pdes``, HDF5 store in PDEBench's layout.

    from unisim.data import load_data, load_heldout, data_hash, Splits
    splits = load_data(cfg.data)     # train/val/test (samples, nt, nx) float32, coeffs, x, t, path
    splits = load_heldout(cfg.data, splits)   # + splits.heldout (its own file, made on demand)
    data_hash(cfg.data)              # 16 hex chars: unisim.data_hash and the MLflow digest

Modules: ``store`` (generate, cache, load), ``pdebench`` (the HDF5 layout), ``info`` (file
statistics); ``initial``, ``solver`` and ``exact`` re-export the Burgers plug-in's parts,
which moved to ``unisim.pdes`` (``initial``, ``burgers_solver``, ``burgers_exact``).
No module here imports torch or mlflow.
"""

from __future__ import annotations

from unisim.data.solver import SOLVER_VERSION
from unisim.data.store import (
    BurgersSplits,
    DataFile,
    Splits,
    cache_path,
    data_hash,
    ensure_data,
    load_data,
    load_heldout,
)

__all__ = [
    "SOLVER_VERSION",
    "BurgersSplits",
    "DataFile",
    "cache_path",
    "data_hash",
    "ensure_data",
    "load_data",
    "load_heldout",
    "Splits",
]
