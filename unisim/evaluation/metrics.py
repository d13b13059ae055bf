"""Error metrics as pure functions on arrays shaped ``(samples, time, x)``.

    from unisim.evaluation.metrics import error_metrics, nrmse
    nrmse(pred, target)                      # scalar, PDEBench nRMSE
    error_metrics(pred, target, prefix="one_step_")
    # {"one_step_nrmse": ..., "one_step_rmse": ..., "one_step_crmse": ..., ...}

Callers pass predicted steps only: context (input) steps are excluded before
these functions see the arrays. Every metric is computed in float64. The
definitions follow PDEBench (``pdebench/models/metrics.py``, after its 2024 fix):

- ``nrmse``: for each sample and step, RMSE over x divided by the RMS of the
  target over x; then the mean over samples and steps.
- ``rmse``: for each sample and step, RMSE over x; mean over samples and steps.
- ``crmse`` (PDEBench's "conserved" RMSE, ``err_CSV``): for each step, the RMS
  over samples of the error of the spatial mean, ``mean_x pred - mean_x target``;
  then the mean over steps. It measures how well the conserved quantity (the
  integral of u on a periodic domain) is predicted.
- ``max_error``: the largest absolute pointwise error anywhere (worst case in
  all the data). PDEBench's ``err_Max`` averages the per-step maxima over time
  instead; the per-step maxima are ``max_error_per_step``.
- ``frmse_low/mid/high``: PDEBench's Fourier RMSE: rfft over x (amplitudes
  scaled by 1/nx), RMS over samples per mode, mean over the modes of a band
  ``[0, 4)``, ``[4, 12)``, ``[12, nx/2]``, then the mean over steps.
"""

from __future__ import annotations

import numpy as np

EPS = 1e-12  # guards an all-zero target frame
FOURIER_BANDS = (4, 12)  # PDEBench's iLow, iHigh: low = [0, 4), mid = [4, 12), high = [12, ...)


def _as_numpy(a) -> np.ndarray:
    if hasattr(a, "detach"):
        a = a.detach().float().cpu().numpy()
    return np.asarray(a, dtype=np.float64)


def _pair(pred, target) -> tuple[np.ndarray, np.ndarray]:
    p, t = _as_numpy(pred), _as_numpy(target)
    if p.shape != t.shape or p.ndim != 3:
        raise ValueError(f"pred {p.shape} and target {t.shape} must both be (N, T, X)")
    if p.shape[0] == 0 or p.shape[1] == 0:
        raise ValueError(f"pred {p.shape}: need at least one sample and one predicted step")
    return p, t


def nrmse_per_step(pred, target) -> np.ndarray:
    """(N, T, X), (N, T, X) -> (T,): nRMSE at each predicted step, mean over samples."""
    p, t = _pair(pred, target)
    err = np.sqrt(np.mean((p - t) ** 2, axis=-1))  # (N, T)
    scale = np.sqrt(np.mean(t**2, axis=-1))  # (N, T)
    return np.mean(err / np.maximum(scale, EPS), axis=0)


def nrmse(pred, target) -> float:
    """(N, T, X), (N, T, X) -> scalar PDEBench nRMSE (mean over samples and steps)."""
    return float(np.mean(nrmse_per_step(pred, target)))


def nrmse_per_sample(pred, target) -> np.ndarray:
    """(N, T, X), (N, T, X) -> (N,): nRMSE of each trajectory (mean over its steps)."""
    p, t = _pair(pred, target)
    err = np.sqrt(np.mean((p - t) ** 2, axis=-1))
    scale = np.sqrt(np.mean(t**2, axis=-1))
    return np.mean(err / np.maximum(scale, EPS), axis=1)


def rmse_per_step(pred, target) -> np.ndarray:
    """(N, T, X), (N, T, X) -> (T,): RMSE over x, mean over samples."""
    p, t = _pair(pred, target)
    return np.mean(np.sqrt(np.mean((p - t) ** 2, axis=-1)), axis=0)


def rmse(pred, target) -> float:
    return float(np.mean(rmse_per_step(pred, target)))


def crmse_per_step(pred, target) -> np.ndarray:
    """(N, T, X), (N, T, X) -> (T,): RMS over samples of the spatial-mean error."""
    p, t = _pair(pred, target)
    mean_err = np.mean(p, axis=-1) - np.mean(t, axis=-1)  # (N, T)
    return np.sqrt(np.mean(mean_err**2, axis=0))


def crmse(pred, target) -> float:
    return float(np.mean(crmse_per_step(pred, target)))


def max_error_per_step(pred, target) -> np.ndarray:
    """(N, T, X), (N, T, X) -> (T,): worst absolute error over samples and x."""
    p, t = _pair(pred, target)
    return np.max(np.abs(p - t), axis=(0, 2))


def max_error(pred, target) -> float:
    """Worst absolute pointwise error over samples, steps and x."""
    return float(np.max(max_error_per_step(pred, target)))


def frmse_bands(pred, target, bands: tuple[int, int] = FOURIER_BANDS) -> dict[str, float]:
    """PDEBench Fourier RMSE in the low, mid and high bands (NaN for an empty band)."""
    p, t = _pair(pred, target)
    nx = p.shape[-1]
    diff = np.fft.rfft(p, axis=-1) - np.fft.rfft(t, axis=-1)  # (N, T, nx//2+1)
    per_mode = np.sqrt(np.mean(np.abs(diff) ** 2, axis=0)) / nx  # (T, modes); domain length 1
    low, high = bands
    out = {}
    for name, lo, hi in (("low", 0, low), ("mid", low, high), ("high", high, None)):
        band = per_mode[:, lo:hi]
        out[name] = float(np.mean(band)) if band.size else float("nan")
    return out


def error_metrics(pred, target, prefix: str = "") -> dict[str, float]:
    """All scalar error metrics of one prediction set, keys ``{prefix}nrmse`` etc."""
    out = {
        f"{prefix}nrmse": nrmse(pred, target),
        f"{prefix}rmse": rmse(pred, target),
        f"{prefix}crmse": crmse(pred, target),
        f"{prefix}max_error": max_error(pred, target),
    }
    for band, value in frmse_bands(pred, target).items():
        out[f"{prefix}frmse_{band}"] = value
    return out
