"""Physics checks on predicted trajectories on a periodic domain (Burgers, advection, heat).

Which checks gate a model comes from its PDE: ``pde.invariants(spec)`` (unisim/pdes/)
names the laws the equation obeys; ``unisim.evaluation.gates`` drops the rest.

    from unisim.evaluation.physics import physics_metrics
    physics_metrics(pred, reference)   # pred (N, T, X) rollout, reference (N, X) last true input
    # {"conservation_gap": ..., "energy_violation": ..., "nonfinite": 0.0, ...}

Two facts of u_t + u u_x = (nu/pi) u_xx with periodic boundaries give checks
that need no ground truth:

- the spatial mean is conserved: d/dt mean_x(u) = 0, so each predicted frame
  should keep the mean of the reference frame (the last true frame the model
  saw). ``conservation_gap`` is |mean_x pred_t - mean_x ref| / RMS_x(ref), the
  drift in units of the field's size, averaged over samples and steps;
  ``conservation_gap_max`` is the worst (sample, step).
- the energy E = mean_x(u^2) / 2 never increases: dE/dt = -(nu/pi) mean_x(u_x^2) <= 0.
  For each sample, the largest rise of E above its running minimum (starting
  from the reference frame), divided by E(ref), is that sample's violation.
  ``energy_violation`` is its mean over samples, ``energy_violation_max`` the
  worst sample; ``energy_increase_count`` counts step-to-step rises larger than
  ``ENERGY_TOLERANCE`` (relative) and ``energy_increase_fraction`` divides that
  by the number of steps checked.
- ``nonfinite`` counts NaN/Inf values (``nonfinite_fraction`` relative to all values).

Non-finite frames make the gap and violation NaN, which fails any gate.
"""

from __future__ import annotations

import numpy as np

from unisim.evaluation.metrics import EPS, _as_numpy

ENERGY_TOLERANCE = 1e-6  # relative step-to-step rise treated as float noise, not a violation


def _check(pred, reference) -> tuple[np.ndarray, np.ndarray]:
    p, r = _as_numpy(pred), _as_numpy(reference)
    if p.ndim != 3 or r.shape != (p.shape[0], p.shape[2]):
        raise ValueError(f"pred {p.shape} must be (N, T, X) and reference {r.shape} (N, X)")
    return p, r


def conservation_gaps(pred, reference) -> np.ndarray:
    """(N, T, X), (N, X) -> (N, T): |mean drift| / RMS of the reference frame."""
    p, r = _check(pred, reference)
    drift = np.abs(np.mean(p, axis=-1) - np.mean(r, axis=-1, keepdims=True))  # (N, T)
    scale = np.sqrt(np.mean(r**2, axis=-1, keepdims=True))  # (N, 1)
    return drift / np.maximum(scale, EPS)


def energy(u) -> np.ndarray:
    """(..., X) -> (...): E = mean_x(u^2) / 2."""
    a = _as_numpy(u)
    return 0.5 * np.mean(a**2, axis=-1)


def energy_violations(pred, reference) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample relative rise above the running minimum (N,), and step rises (N, T) bool."""
    p, r = _check(pred, reference)
    e = np.concatenate([energy(r)[:, None], energy(p)], axis=1)  # (N, 1 + T)
    e0 = np.maximum(e[:, :1], EPS)
    running_min = np.minimum.accumulate(e, axis=1)
    rise = np.max(e - running_min, axis=1) / e0[:, 0]  # (N,)
    with np.errstate(invalid="ignore"):
        rise = np.where(np.all(np.isfinite(e), axis=1), rise, np.nan)
    step_rise = (e[:, 1:] - e[:, :-1]) > ENERGY_TOLERANCE * e0  # (N, T)
    return rise, step_rise


def physics_metrics(pred, reference) -> dict[str, float]:
    """Conservation, energy and finiteness metrics of a rollout (see module docstring)."""
    p, r = _check(pred, reference)
    finite = np.isfinite(p)
    n_bad = int(p.size - np.count_nonzero(finite))
    gaps = conservation_gaps(p, r)
    rise, step_rise = energy_violations(p, r)
    return {
        "conservation_gap": float(np.mean(gaps)),
        "conservation_gap_max": float(np.max(gaps)),
        "energy_violation": float(np.mean(rise)),
        "energy_violation_max": float(np.max(rise)),
        "energy_increase_count": float(np.count_nonzero(step_rise)),
        "energy_increase_fraction": float(np.mean(step_rise)),
        "nonfinite": float(n_bad),
        "nonfinite_fraction": n_bad / p.size if p.size else 0.0,
    }
