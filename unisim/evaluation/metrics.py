"""Error metrics as pure functions on arrays shaped ``(samples, time, x)``.

nRMSE follows PDEBench's corrected (2024) definition: for each sample and each
predicted time step, the RMSE over x divided by the RMS of the target over x;
then the mean over samples and steps. Callers pass predicted steps only
(context steps excluded).
"""

from __future__ import annotations

import numpy as np

EPS = 1e-12  # guards an all-zero target frame


def _as_numpy(a) -> np.ndarray:
    if hasattr(a, "detach"):
        a = a.detach().float().cpu().numpy()
    return np.asarray(a, dtype=np.float64)


def nrmse_per_step(pred, target) -> np.ndarray:
    """(N, T, X), (N, T, X) -> (T,): nRMSE at each predicted step, mean over samples."""
    p, t = _as_numpy(pred), _as_numpy(target)
    if p.shape != t.shape or p.ndim != 3:
        raise ValueError(f"pred {p.shape} and target {t.shape} must both be (N, T, X)")
    err = np.sqrt(np.mean((p - t) ** 2, axis=-1))  # (N, T)
    scale = np.sqrt(np.mean(t**2, axis=-1))  # (N, T)
    return np.mean(err / np.maximum(scale, EPS), axis=0)


def nrmse(pred, target) -> float:
    """(N, T, X), (N, T, X) -> scalar PDEBench nRMSE (mean over samples and steps)."""
    return float(np.mean(nrmse_per_step(pred, target)))
