"""Evaluation: metrics (pure functions), rollouts, physics checks, gates, reports, plots.

    from unisim.evaluation import run_evaluation, EvalResult
    result = run_evaluation("models:/burgers-surrogate@champion", split="test")
    result.metrics["final_nrmse"], result.gates_passed, result.report

Pure parts (no MLflow): ``metrics``, ``physics``, ``gates``, ``report``,
``plots``, ``rollout``, ``engine``; ``names`` (the metric names, a torch-free leaf
that the config checks gates against). MLflow-facing parts: ``sources`` (what to
load), ``champion`` (registry baseline + cache), ``baselines``, ``api``.
Names below are imported on first use, so ``import unisim.evaluation`` stays light.
"""

from __future__ import annotations

from typing import Any

_EXPORTS = {
    "run_evaluation": "unisim.evaluation.api",
    "EvalResult": "unisim.evaluation.api",
    "GateRow": "unisim.evaluation.gates",
    "evaluate_gates": "unisim.evaluation.gates",
    "all_passed": "unisim.evaluation.gates",
    "find_champion": "unisim.evaluation.champion",
    "CHAMPION_ALIAS": "unisim.evaluation.champion",
    "KNOWN_METRICS": "unisim.evaluation.names",
    "evaluate_model": "unisim.evaluation.engine",
    "evaluate_persistence": "unisim.evaluation.engine",
    "score_predictions": "unisim.evaluation.engine",
    "nrmse": "unisim.evaluation.metrics",
    "nrmse_per_step": "unisim.evaluation.metrics",
    "gate_table_text": "unisim.evaluation.report",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'unisim.evaluation' has no attribute {name!r}")
