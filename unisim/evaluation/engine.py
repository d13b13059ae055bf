"""The evaluation engine without MLflow: a model (or a baseline) and trajectories in, scores out.

    scores = evaluate_model(model, traj, context=1, cond=cond, batch_size=64, device="cpu")
    scores.metrics["final_nrmse"], scores.rollout_curve   # (nt - context,) nRMSE per step
    evaluate_persistence(traj, context=1).metrics

``score_predictions`` is the pure part: given the true trajectories (N, nt, X)
and the model's predictions of the steps after the context (N, nt - context, X),
it returns every metric under its report name:

- rollout (autoregressive): ``final_nrmse`` (the headline), ``rmse``, ``crmse``,
  ``max_error``, ``frmse_low|mid|high``;
- one-step (teacher forced): ``one_step_nrmse``, ``one_step_rmse``, ...;
- physics of the rollout: ``conservation_gap``, ``energy_violation``,
  ``nonfinite`` and friends (see ``physics.py``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from unisim.errors import UnisimError
from unisim.evaluation import metrics as M
from unisim.evaluation.names import (  # noqa: F401  (re-exported: their home until names.py)
    KNOWN_METRICS,
    PHYSICS_KEYS,
    RATIO_KEYS,
    ROLLOUT_KEYS,
    WORST_DECILE,
)
from unisim.evaluation.physics import physics_metrics
from unisim.evaluation.rollout import (
    Stepper,
    persistence_one_step,
    persistence_rollout,
    predict_one_step,
    predict_rollout,
)
from unisim.evaluation.sources import LoadedModel, model_grid
from unisim.evaluation.statistics import worst_fraction_mean


@dataclass
class Scores:
    """Metrics of one model on one set of trajectories."""

    metrics: dict[str, float]
    rollout_curve: np.ndarray  # (nt - context,) nRMSE per rollout step
    one_step_curve: np.ndarray  # (nt - context,) one-step nRMSE per step
    rollout: np.ndarray | None = field(default=None, repr=False)  # (N, nt - context, X)
    # (N,) rollout nRMSE of each trajectory (its mean is final_nrmse): paired tests, intervals
    per_trajectory: np.ndarray | None = field(default=None, repr=False)


def score_predictions(
    traj: np.ndarray, rollout: np.ndarray, one_step: np.ndarray, context: int
) -> Scores:
    """Score predictions of the steps after ``context`` against the true trajectories."""
    target = np.asarray(traj)[:, context:]  # (N, nt - context, X): context steps excluded
    if rollout.shape != target.shape or one_step.shape != target.shape:
        raise ValueError(
            f"predictions {rollout.shape}/{one_step.shape} do not match targets {target.shape}"
        )
    out = M.error_metrics(rollout, target)
    out["final_nrmse"] = out.pop("nrmse")
    per_trajectory = M.nrmse_per_sample(rollout, target)
    out[WORST_DECILE] = worst_fraction_mean(per_trajectory, 0.1)
    out.update(M.error_metrics(one_step, target, prefix="one_step_"))
    out.update(physics_metrics(rollout, np.asarray(traj)[:, context - 1]))
    return Scores(
        metrics=out,
        rollout_curve=M.nrmse_per_step(rollout, target),
        one_step_curve=M.nrmse_per_step(one_step, target),
        rollout=rollout,
        per_trajectory=per_trajectory,
    )


def evaluate_model(
    model: Any,
    traj: np.ndarray,
    *,
    context: int,
    cond: np.ndarray | None,
    batch_size: int = 64,
    device: Any = "cpu",
) -> Scores:
    """Run a model's rollout and one-step predictions on ``traj`` and score them."""
    start = time.perf_counter()
    step = Stepper(model, device)  # shared, so a batch-of-one model is detected once
    kw = {"context": context, "cond": cond, "batch_size": batch_size}
    rollout = predict_rollout(step, traj, **kw)
    one_step = predict_one_step(step, traj, **kw)
    scores = score_predictions(traj, rollout, one_step, context)
    scores.metrics["eval_time_s"] = time.perf_counter() - start
    return scores


def evaluate_persistence(traj: np.ndarray, *, context: int) -> Scores:
    """The persistence baseline u(t) = u(t0), scored like a model (no training needed)."""
    return score_predictions(
        traj,
        persistence_rollout(traj, context=context),
        persistence_one_step(traj, context=context),
        context,
    )


def data_physics(traj: np.ndarray, context: int) -> dict[str, float]:
    """The physics metrics of the true trajectories: the floor a model is held against."""
    phys = physics_metrics(np.asarray(traj)[:, context:], np.asarray(traj)[:, context - 1])
    return {k: phys[k] for k in ("conservation_gap", "energy_violation", "nonfinite")}


class GridMismatch(UnisimError):
    """The model was built for another grid or context than the data offers."""


def evaluate_loaded(
    loaded: LoadedModel,
    traj: np.ndarray,
    *,
    cond: np.ndarray | None,
    batch_size: int,
    device: Any,
) -> Scores:
    """Evaluate a loaded model after checking that its grid matches ``traj`` (N, nt, X)."""
    nx, context = model_grid(loaded)
    what = loaded.source
    if nx is not None and nx != traj.shape[2]:
        raise GridMismatch(f"{what}: model expects nx={nx} but the data has nx={traj.shape[2]}")
    if context >= traj.shape[1]:
        raise GridMismatch(
            f"{what}: model context {context} leaves no step to predict (nt={traj.shape[1]})"
        )
    try:
        return evaluate_model(
            loaded.model, traj, context=context, cond=cond, batch_size=batch_size, device=device
        )
    except (AssertionError, RuntimeError, ValueError) as exc:  # shape errors, export guards
        text = str(exc).strip().splitlines()
        msg = text[0][:200] if text else type(exc).__name__
        raise GridMismatch(
            f"{what}: model does not run on data of shape (N, {traj.shape[1]}, "
            f"{traj.shape[2]}) ({msg})"
        ) from None
