"""Gates: decide pass/fail from metrics, config limits and the champion's metrics.

    rows = evaluate_gates(metrics, cfg.gates, stage="full", baseline=champion_metrics,
                          baseline_label="champion v3")
    all_passed(rows)                      # True when every row passed
    [row.to_dict() for row in rows]       # the gate table of report.json

A metric gate (``GateConfig``) follows MLflow's ``MetricThreshold``:

- ``threshold``: the value must be ``<= threshold`` (``>=`` when
  ``greater_is_better``);
- ``min_absolute_change``: the value must beat the baseline by at least that
  much: ``value <= baseline - change`` (``>= baseline + change``);
- ``min_relative_change``: ``value <= baseline - change * |baseline|``
  (``>= baseline + change * |baseline|``); with a zero baseline the value must
  simply be better by 1e-10, as MLflow does.

Each check is one row of the table, with the limit it was held to. With no
baseline (no champion, or the evaluated run is the champion) the two change
checks pass provisionally and their row says why. Physics gates
(``PhysicsGatesConfig``) hold at every stage. A non-finite value fails.

A gate with ``paired: bootstrap | wilcoxon`` (``final_nrmse`` only) compares the
candidate and the champion on the same trajectories: the change checks pass only
when the candidate is better beyond noise, i.e. the whole ``level`` interval of the
per-trajectory difference (candidate - champion) lies below ``-change`` (Wilcoxon:
also the one-sided signed-rank test at ``1 - level``). The row carries the interval.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from unisim.config import GateConfig, GatesConfig
from unisim.display import num

ZERO_BASELINE_MARGIN = 1e-10  # MLflow's fallback when the baseline metric is 0


@dataclass(frozen=True)
class GateRow:
    """One line of the gate table."""

    metric: str
    value: float | None
    limit: float | None  # the number the value was compared with (None when provisional)
    baseline: float | None  # the champion's value of the metric, when there is one
    passed: bool
    reason: str
    check: str = "threshold"  # threshold | min_absolute_change | min_relative_change | physics
    provisional: bool = False
    interval: tuple[float, float] | None = None  # paired gates: the difference's interval

    def to_dict(self) -> dict[str, Any]:
        return {k: _json_number(v) for k, v in asdict(self).items()}


def _json_number(v: Any) -> Any:
    return None if isinstance(v, float) and not math.isfinite(v) else v


def _fmt(v: float | None) -> str:
    return num(v, empty="n/a")


def _compare(value: float, limit: float, greater_is_better: bool) -> bool:
    return value >= limit if greater_is_better else value <= limit


def _paired_row(
    gate: GateConfig,
    check: str,
    value: float,
    baseline: float,
    required: float,
    per_trajectory: Any,
    baseline_per_trajectory: Any,
    label: str,
) -> GateRow:
    """A change check decided by a paired test on per-trajectory errors (lower is better)."""
    from unisim.evaluation.statistics import paired_difference

    name = gate.metric
    if per_trajectory is None or baseline_per_trajectory is None:
        why = f"paired test impossible: no per-trajectory errors for {label}"
        return GateRow(name, value, None, baseline, False, why, check)
    if len(per_trajectory) != len(baseline_per_trajectory):
        why = f"paired test impossible: {label} was evaluated on other trajectories"
        return GateRow(name, value, None, baseline, False, why, check)
    test = paired_difference(
        per_trajectory, baseline_per_trajectory, method=gate.paired or "bootstrap", level=gate.level
    )
    limit = -required
    ok = test.better and test.high < limit
    p = f", p={test.p_value:.2g}" if test.p_value is not None else ""
    reason = (
        f"difference {_fmt(test.mean_difference)} [{_fmt(test.low)}, {_fmt(test.high)}] "
        f"< {_fmt(limit)} ({test.level:.0%} paired {test.method} vs {label}{p})"
        + ("" if ok else ": not better beyond noise")
    )
    return GateRow(name, value, limit, baseline, ok, reason, check, interval=(test.low, test.high))


def _metric_rows(
    gate: GateConfig,
    value: float | None,
    baseline: float | None,
    baseline_label: str,
    no_baseline_reason: str,
    baseline_error: str | None,
    per_trajectory: Any = None,
    baseline_per_trajectory: Any = None,
    invariants: frozenset[str] | None = None,
) -> list[GateRow]:
    name, gib = gate.metric, gate.greater_is_better
    op = ">=" if gib else "<="
    rows: list[GateRow] = []
    if value is None or not math.isfinite(value):
        why = "metric not produced" if value is None else f"value is {value}"
        checks = [
            c
            for c in ("threshold", "min_absolute_change", "min_relative_change")
            if getattr(gate, c) is not None
        ]
        return [GateRow(name, value, None, baseline, False, why, c) for c in checks]

    if gate.threshold is not None:
        ok = _compare(value, gate.threshold, gib)
        reason = f"{_fmt(value)} {op} {_fmt(gate.threshold)}" + ("" if ok else " fails")
        rows.append(GateRow(name, value, gate.threshold, None, ok, reason, "threshold"))

    sign = 1.0 if gib else -1.0
    for check in ("min_absolute_change", "min_relative_change"):
        change = getattr(gate, check)
        if change is None:
            continue
        if baseline_error is not None:
            rows.append(GateRow(name, value, None, None, False, baseline_error, check))
            continue
        if baseline is None:
            rows.append(
                GateRow(name, value, None, None, True, no_baseline_reason, check, provisional=True)
            )
            continue
        if not math.isfinite(baseline):
            ok = True  # any finite value beats a non-finite champion
            reason = f"{baseline_label} value is {baseline}; any finite value is better"
            rows.append(GateRow(name, value, None, None, ok, reason, check))
            continue
        if gate.paired is not None:
            required = change if check == "min_absolute_change" else change * abs(baseline)
            rows.append(
                _paired_row(
                    gate,
                    check,
                    value,
                    baseline,
                    required,
                    per_trajectory,
                    baseline_per_trajectory,
                    baseline_label,
                )  # fmt: skip
            )
            continue
        if check == "min_absolute_change":
            limit = baseline + sign * change
            what = f"{baseline_label} {_fmt(baseline)} {'+' if gib else '-'} {_fmt(change)}"
        elif baseline == 0:
            limit = baseline + sign * ZERO_BASELINE_MARGIN
            what = f"{baseline_label} 0 (zero baseline: must be strictly better)"
        else:
            limit = baseline + sign * change * abs(baseline)
            what = f"{baseline_label} {_fmt(baseline)} {'+' if gib else '-'} {change:.0%}"
        ok = _compare(value, limit, gib)
        reason = f"{_fmt(value)} {op} {_fmt(limit)} ({what})" + ("" if ok else " fails")
        rows.append(GateRow(name, value, limit, baseline, ok, reason, check))
    return rows


# physics gate metric -> the PDE invariant (unisim.pdes.Invariant value) it checks
PHYSICS_INVARIANTS = {
    "conservation_gap": "mean_conserved",
    "energy_violation": "energy_nonincreasing",
}


def _physics_rows(
    metrics: dict[str, float], gates: GatesConfig, invariants: frozenset[str] | None
) -> list[GateRow]:
    phys = gates.physics
    rows: list[GateRow] = []
    for metric, limit in (
        ("conservation_gap", phys.max_conservation_gap),
        ("energy_violation", phys.max_energy_violation),
    ):
        if limit is None:
            continue
        if invariants is not None and PHYSICS_INVARIANTS[metric] not in invariants:
            continue  # not a law of this PDE (reaction grows u): nothing to gate
        value = metrics.get(metric)
        if value is None or not math.isfinite(value):
            why = "metric not produced" if value is None else f"value is {value}"
            rows.append(GateRow(metric, value, limit, None, False, why, "physics"))
            continue
        ok = value <= limit
        reason = f"{_fmt(value)} <= {_fmt(limit)}" + ("" if ok else " fails")
        rows.append(GateRow(metric, value, limit, None, ok, reason, "physics"))
    if not phys.allow_nonfinite:
        bad = metrics.get("nonfinite")
        ok = bad is not None and bad == 0
        reason = (
            "metric not produced"
            if bad is None
            else ("no NaN/Inf" if ok else f"{int(bad)} NaN/Inf values in the predictions")
        )
        rows.append(GateRow("nonfinite", bad, 0.0, None, ok, reason, "physics"))
    return rows


def evaluate_gates(
    metrics: dict[str, float],
    gates: GatesConfig,
    stage: str,
    baseline: dict[str, float] | None = None,
    baseline_label: str = "champion",
    no_baseline_reason: str = "provisional: no champion",
    baseline_error: str | None = None,
    per_trajectory: Any = None,
    baseline_per_trajectory: Any = None,
    invariants: frozenset[str] | None = None,
) -> list[GateRow]:
    """The gate table for ``stage``: metric gates of that stage, then the physics gates.

    ``baseline`` holds the champion's metrics (None: no champion, and the change
    checks pass provisionally with ``no_baseline_reason``). ``baseline_error``
    says a champion exists but could not be evaluated: the change checks fail.
    ``per_trajectory`` / ``baseline_per_trajectory``: the rollout nRMSE of each
    trajectory, candidate and champion, on the same trajectories (paired gates).
    ``invariants``: the values of ``pde.invariants(spec)``; a physics gate whose law the
    PDE does not obey is left out (None: all apply, as for Burgers).
    """
    rows: list[GateRow] = []
    for gate in gates.metrics:
        if stage not in gate.stages:
            continue
        base = baseline.get(gate.metric) if baseline is not None else None
        reason = no_baseline_reason
        if baseline is not None and base is None:
            reason = f"provisional: {baseline_label} has no {gate.metric}"
        value = metrics.get(gate.metric)
        rows.extend(
            _metric_rows(
                gate,
                value,
                base,
                baseline_label,
                reason,
                baseline_error,
                per_trajectory,
                baseline_per_trajectory,
            )  # fmt: skip
        )
    rows.extend(_physics_rows(metrics, gates, invariants))
    return rows


def all_passed(rows: list[GateRow]) -> bool:
    """True when every row passed (an empty table passes)."""
    return all(row.passed for row in rows)


def gate_metric_names(gates: GatesConfig) -> list[str]:
    """The metrics the metric gates name, in config order."""
    return [g.metric for g in gates.metrics]
