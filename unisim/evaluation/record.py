"""What an evaluation writes beyond its own run: gate tags, plots, report.json, and the
headline numbers on the evaluated training run.

    report = build_eval_report(x, scored, run_id)
    record_on_training_run(store, run_id, metrics=..., passed=..., split=..., stage=...,
                           report=report, data_hash=...)
"""

from __future__ import annotations

import tempfile
from typing import TYPE_CHECKING, Any

import numpy as np

from unisim import tracking as T
from unisim.evaluation.engine import data_physics
from unisim.evaluation.gates import GateRow
from unisim.evaluation.report import build_report

if TYPE_CHECKING:
    from unisim.config import Config
    from unisim.evaluation.api import Scored
    from unisim.evaluation.inputs import Inputs
    from unisim.tracking import Store, TrackedRun


def gate_tags(rows: list[GateRow]) -> dict[str, str]:
    """One tag per gate row, ``unisim.gate.<metric>.<check>`` = pass | fail | provisional."""
    out = {}
    for row in rows:
        state = "provisional" if row.provisional else ("pass" if row.passed else "fail")
        out[T.gate_tag(row.metric, row.check)] = state
    return out


def _axis(values: Any, n: int) -> np.ndarray:
    arr = np.asarray(values if values is not None else [], dtype=float).reshape(-1)
    return arr if arr.shape == (n,) else np.arange(n, dtype=float)


def log_plots(
    run: TrackedRun, cfg: Config, splits: Any, traj: np.ndarray, rollout: np.ndarray,
    context: int, curves: dict[str, list[float]], label: str,
) -> None:  # fmt: skip
    from unisim.evaluation.plots import make_plots

    with tempfile.TemporaryDirectory(prefix="unisim-plots-") as tmp:
        paths = make_plots(
            tmp,
            traj,
            rollout,
            _axis(getattr(splits, "x", None), traj.shape[2]),
            _axis(getattr(splits, "t", None), traj.shape[1]),
            context=context,
            curves={k: np.asarray(v, dtype=float) for k, v in curves.items()},
            n_trajectories=cfg.evaluation.plot_trajectories,
            n_snapshots=cfg.evaluation.plot_snapshots,
            label=label,
        )
        for path in paths:
            run.log_artifact(path, "plots")


def record_on_training_run(
    store: Store,
    run_id: str,
    *,
    metrics: dict[str, float],
    passed: bool,
    split: str,
    stage: str,
    report: dict[str, Any],
    data_hash: str,
) -> str | None:
    """Write the headline numbers onto the evaluated training run; returns why not, if not."""
    run = store.get_run(run_id)
    trained_on = run.data.tags.get(T.TAG_DATA_HASH)
    if trained_on and trained_on != data_hash:
        return f"not written to training run {run_id}: it was trained on data {trained_on}"
    headline = (T.FINAL_NRMSE, T.ONE_STEP_NRMSE)
    # Linked to the run's logged model too: a registered version then shows them as numbers.
    store.log_metrics(
        run_id,
        {T.split_metric(split, k): metrics[k] for k in headline if k in metrics},
        model_id=store.logged_model_id(run),
    )
    # A fast-stage pass says little about the model; a failure at any stage is final.
    if stage == T.Stage.FULL or not passed:
        store.set_tags(run_id, {T.TAG_GATES_PASSED: "true" if passed else "false"})
    if stage == T.Stage.FULL:
        store.log_dict(run_id, report, "report.json")
    return None


def _coefficient_summary(x: Inputs) -> dict[str, Any] | None:
    """Per coefficient: min, max and the number of distinct values among the trajectories."""
    if x.coeffs is None:
        return None
    names = x.splits.pde.coefficient_names
    return {
        name: {
            "min": float(np.min(col)),
            "max": float(np.max(col)),
            "distinct": int(len(np.unique(col))),
        }
        for name, col in zip(names, np.asarray(x.coeffs).T, strict=True)
    }


def build_eval_report(x: Inputs, s: Scored, run_id: str) -> dict[str, Any]:
    from unisim.evaluation.statistics import summarize_seeds

    report = build_report(
        metrics=s.metrics,
        gates=s.gates,
        stage=x.stage,
        split=x.split,
        model_source=x.loaded.describe(),
        data={
            "hash": x.data_hash,
            "path": str(getattr(x.splits, "path", "") or ""),
            "split": x.split,
            "n_samples": int(x.traj.shape[0]),
            "nt": int(x.traj.shape[1]),
            "nx": int(x.traj.shape[2]),
            "context": x.context,
            "pde": getattr(x.splits, "pde_name", None),
            "nu": getattr(x.splits, "nu", None),
            "coefficients": _coefficient_summary(x),
            "condition_on": x.condition_on,
            "selection": x.selection.key,
            "physics_of_truth": data_physics(x.traj, x.context),
        },
        baselines={k: v.to_report() for k, v in s.baselines.items()},
        error_curve=[float(v) for v in s.scores.rollout_curve],
        one_step_curve=[float(v) for v in s.scores.one_step_curve],
        evaluate_run_id=run_id,
        evaluated_run_id=x.loaded.run_id,
        notes=[],
    )
    per_traj = [float(v) for v in s.scores.per_trajectory]
    # one model: the interval covers the test-set noise (which trajectories were drawn)
    report["interval"] = {T.FINAL_NRMSE: summarize_seeds(per_traj).to_dict()}
    report["per_trajectory"] = {
        T.FINAL_NRMSE: per_traj,
        "index": [int(i) for i in x.indices],  # positions in the split
    }
    return report
