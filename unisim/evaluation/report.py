"""report.json: the evaluation's metrics, gate table, baselines and provenance.

    report = build_report(metrics=..., gates=rows, stage="full", split="test", ...)
    report["final_nrmse"], report["gates_passed"]    # what the lifecycle reads offline
    print(gate_table_text(rows))                       # plain-text table (no rich)

Keys: ``schema``, ``created``, ``stage``, ``split``, ``final_nrmse``,
``one_step_nrmse``, ``gates_passed`` (the three the lifecycle reads),
``evaluate_run_id``, ``evaluated_run_id``, ``model_source`` (what was loaded),
``data`` (hash, path, sizes, selection, physics of the true data), ``metrics``,
``gates`` (rows: metric, check, value, limit, baseline, passed, reason,
provisional), ``baselines`` (persistence, champion, fno: metrics + note),
``ratios`` (``ratio_to_<baseline>`` of final_nrmse), ``error_curve`` (nRMSE per
rollout step, rollout and one-step) and ``notes``.

The report is plain JSON: non-finite floats become ``null`` so any reader
(``json.loads``, jq, a browser) can open it.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Any

from unisim.display import num
from unisim.evaluation.gates import GateRow, all_passed

REPORT_SCHEMA = 1


def clean(obj: Any) -> Any:
    """Recursively replace NaN/Inf by None and numpy scalars by Python numbers."""
    if isinstance(obj, dict):
        return {str(k): clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item) and getattr(obj, "ndim", 1) == 0:
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def ratios(metrics: dict[str, float], baselines: dict[str, dict[str, Any] | None]) -> dict:
    """``ratio_to_<name>`` = candidate final_nrmse / baseline final_nrmse (None if unknown)."""
    out: dict[str, float | None] = {}
    mine = metrics.get("final_nrmse")
    for name, base in baselines.items():
        theirs = ((base or {}).get("metrics") or {}).get("final_nrmse")
        ok = mine is not None and theirs is not None and math.isfinite(theirs) and theirs > 0
        out[f"ratio_to_{name}"] = float(mine / theirs) if ok else None
    return out


def build_report(
    *,
    metrics: dict[str, float],
    gates: list[GateRow],
    stage: str,
    split: str,
    model_source: dict[str, Any],
    data: dict[str, Any],
    baselines: dict[str, dict[str, Any] | None],
    error_curve: list[float],
    one_step_curve: list[float],
    evaluate_run_id: str | None = None,
    evaluated_run_id: str | None = None,
    notes: list[str] | None = None,
) -> dict[str, Any]:
    """Assemble report.json; ``final_nrmse`` and ``gates_passed`` are top-level keys."""
    report = {
        "schema": REPORT_SCHEMA,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "stage": stage,
        "split": split,
        "final_nrmse": metrics.get("final_nrmse"),
        "one_step_nrmse": metrics.get("one_step_nrmse"),
        "gates_passed": all_passed(gates),
        "evaluate_run_id": evaluate_run_id,
        "evaluated_run_id": evaluated_run_id,
        "model_source": model_source,
        "data": data,
        "metrics": metrics,
        "gates": [row.to_dict() for row in gates],
        "baselines": baselines,
        "ratios": ratios(metrics, baselines),
        "error_curve": {"rollout_nrmse": error_curve, "one_step_nrmse": one_step_curve},
        "notes": notes or [],
    }
    return clean(report)


def gate_table_rows(rows: list[GateRow]) -> list[list[str]]:
    """Rows of strings (metric, check, value, limit, baseline, passed, reason) for tables."""

    def f(v: float | None) -> str:
        return num(v)

    return [
        [
            r.metric,
            r.check,
            f(r.value),
            f(r.limit),
            f(r.baseline),
            "yes" if r.passed else "NO",
            r.reason,
        ]
        for r in rows
    ]


GATE_HEADER = ["metric", "check", "value", "limit", "baseline", "passed", "reason"]


def gate_table_text(rows: list[GateRow]) -> str:
    """A fixed-width text table (the ``gates.txt`` artifact)."""
    body = gate_table_rows(rows)
    if not body:
        return "(no gates)\n"
    table = [GATE_HEADER, *body]
    widths = [max(len(r[i]) for r in table) for i in range(len(GATE_HEADER))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in table]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines) + "\n"
