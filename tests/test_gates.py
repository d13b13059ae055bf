"""Gate logic (MLflow MetricThreshold semantics), physics gates, the champion in a registry."""

from __future__ import annotations

import json

import numpy as np
import pytest

from unisim.config import GateConfig, GatesConfig, PhysicsGatesConfig, build_config
from unisim.errors import ConfigError
from unisim.evaluation.champion import (
    Selection,
    cache_key,
    champion_baseline,
    find_champion,
)
from unisim.evaluation.gates import all_passed, evaluate_gates
from unisim.evaluation.report import build_report, gate_table_text
from unisim.tracking import connect

PHYS_OFF = PhysicsGatesConfig(
    max_conservation_gap=None, max_energy_violation=None, allow_nonfinite=True
)


def gates(*metric_gates: GateConfig, physics: PhysicsGatesConfig = PHYS_OFF) -> GatesConfig:
    return GatesConfig(metrics=metric_gates, physics=physics)


def test_absolute_threshold_both_directions() -> None:
    g = gates(
        GateConfig(metric="final_nrmse", threshold=0.1),
        GateConfig(metric="ratio_to_persistence", threshold=1.0),
    )
    rows = evaluate_gates({"final_nrmse": 0.08, "ratio_to_persistence": 1.2}, g, "full")
    assert [r.passed for r in rows] == [True, False]
    assert rows[0].limit == 0.1 and rows[0].check == "threshold"
    assert "fails" in rows[1].reason
    assert not all_passed(rows)
    # greater_is_better flips the comparison; equality passes (MLflow: >= / <=)
    up = gates(GateConfig(metric="final_nrmse", threshold=0.5, greater_is_better=True))
    assert evaluate_gates({"final_nrmse": 0.5}, up, "full")[0].passed
    assert not evaluate_gates({"final_nrmse": 0.49}, up, "full")[0].passed


def test_absolute_change_against_the_champion() -> None:
    g = gates(GateConfig(metric="final_nrmse", min_absolute_change=0.01))
    base = {"final_nrmse": 0.10}
    ok = evaluate_gates({"final_nrmse": 0.089}, g, "full", baseline=base, baseline_label="v3")
    assert ok[0].passed and ok[0].limit == pytest.approx(0.09) and ok[0].baseline == 0.10
    assert "v3" in ok[0].reason
    bad = evaluate_gates({"final_nrmse": 0.095}, g, "full", baseline=base)
    assert not bad[0].passed  # better than the champion, but not by 0.01
    up = gates(GateConfig(metric="final_nrmse", min_absolute_change=0.1, greater_is_better=True))
    assert evaluate_gates({"final_nrmse": 0.6}, up, "full", baseline={"final_nrmse": 0.5})[0].passed
    assert not evaluate_gates({"final_nrmse": 0.55}, up, "full", baseline={"final_nrmse": 0.5})[
        0
    ].passed


def test_relative_change_uses_the_baseline_magnitude() -> None:
    g = gates(GateConfig(metric="final_nrmse", min_relative_change=0.1))
    base = {"final_nrmse": 0.2}
    assert evaluate_gates({"final_nrmse": 0.18}, g, "full", baseline=base)[0].passed
    row = evaluate_gates({"final_nrmse": 0.181}, g, "full", baseline=base)[0]
    assert not row.passed and row.limit == pytest.approx(0.18)
    # a negative baseline with greater_is_better (an R2 below 0): limit = b + c * |b|
    up = gates(GateConfig(metric="final_nrmse", min_relative_change=0.5, greater_is_better=True))
    row = evaluate_gates({"final_nrmse": -0.5}, up, "full", baseline={"final_nrmse": -1.0})[0]
    assert row.passed and row.limit == pytest.approx(-0.5)
    # a zero baseline: the value must be strictly better (MLflow's 1e-10 margin)
    zero = {"final_nrmse": 0.0}
    assert not evaluate_gates({"final_nrmse": 0.0}, g, "full", baseline=zero)[0].passed
    assert evaluate_gates({"final_nrmse": -1e-9}, g, "full", baseline=zero)[0].passed


def test_no_champion_passes_change_gates_provisionally_but_not_thresholds() -> None:
    g = gates(
        GateConfig(metric="final_nrmse", threshold=0.05, min_relative_change=0.05),
        GateConfig(metric="one_step_nrmse", min_absolute_change=0.01),
    )
    rows = evaluate_gates({"final_nrmse": 0.04, "one_step_nrmse": 0.9}, g, "full", baseline=None)
    assert [(r.check, r.passed, r.provisional) for r in rows] == [
        ("threshold", True, False),
        ("min_relative_change", True, True),
        ("min_absolute_change", True, True),
    ]
    assert rows[1].reason == "provisional: no champion" and rows[1].limit is None
    failing = evaluate_gates({"final_nrmse": 0.06, "one_step_nrmse": 0.9}, g, "full")
    assert not failing[0].passed and failing[1].passed
    # a champion that exists but could not be evaluated fails the change checks
    err = evaluate_gates(
        {"final_nrmse": 0.04, "one_step_nrmse": 0.9}, g, "full", baseline_error="champion broke"
    )
    assert [r.passed for r in err] == [True, False, False]


def test_stages_select_gates_and_missing_or_nan_metrics_fail() -> None:
    g = gates(
        GateConfig(metric="final_nrmse", threshold=0.1, stages=("full",)),
        GateConfig(metric="crmse", threshold=0.1, stages=("fast",)),
    )
    assert [r.metric for r in evaluate_gates({"final_nrmse": 1, "crmse": 1}, g, "fast")] == [
        "crmse"
    ]
    rows = evaluate_gates({"final_nrmse": float("nan")}, g, "full")
    assert not rows[0].passed and "nan" in rows[0].reason
    rows = evaluate_gates({}, g, "fast")
    assert not rows[0].passed and rows[0].reason == "metric not produced"


def test_physics_gates() -> None:
    phys = PhysicsGatesConfig(max_conservation_gap=0.05, max_energy_violation=0.01)
    g = gates(physics=phys)
    good = {"conservation_gap": 0.01, "energy_violation": 0.0, "nonfinite": 0.0}
    rows = evaluate_gates(good, g, "fast")
    assert [(r.metric, r.passed) for r in rows] == [
        ("conservation_gap", True),
        ("energy_violation", True),
        ("nonfinite", True),
    ]
    assert all(r.check == "physics" for r in rows)
    bad = {"conservation_gap": 0.2, "energy_violation": 0.02, "nonfinite": 7.0}
    rows = evaluate_gates(bad, g, "full")
    assert [r.passed for r in rows] == [False, False, False]
    assert "7 NaN/Inf" in rows[2].reason
    nan = evaluate_gates({**good, "conservation_gap": float("nan")}, g, "full")
    assert not nan[0].passed
    lax = gates(physics=PhysicsGatesConfig(max_conservation_gap=None, allow_nonfinite=True))
    assert [r.metric for r in evaluate_gates(bad, lax, "full")] == ["energy_violation"]


def test_gate_config_is_validated() -> None:
    with pytest.raises(ConfigError, match="needs threshold"):
        build_config({"gates": {"metrics": [{"metric": "final_nrmse"}]}})
    with pytest.raises(ConfigError, match="min_relative_change"):
        build_config({"gates": {"metrics": [{"metric": "final_nrmse", "min_relative_change": 5}]}})


def test_report_and_text_table_carry_the_gate_table() -> None:
    g = gates(GateConfig(metric="final_nrmse", threshold=0.1, min_relative_change=0.1))
    rows = evaluate_gates({"final_nrmse": float("inf")}, g, "full")
    report = build_report(
        metrics={"final_nrmse": float("inf"), "one_step_nrmse": 0.01},
        gates=rows,
        stage="full",
        split="test",
        model_source={"source": "x"},
        data={"hash": "abc"},
        baselines={"persistence": {"metrics": {"final_nrmse": 0.5}}, "champion": None},
        error_curve=[0.1, float("nan")],
        one_step_curve=[0.1, 0.1],
    )
    text = json.dumps(report, allow_nan=False)  # strict JSON: non-finite became null
    assert json.loads(text)["gates_passed"] is False
    assert report["final_nrmse"] is None and report["error_curve"]["rollout_nrmse"][1] is None
    assert report["ratios"] == {"ratio_to_persistence": None, "ratio_to_champion": None}
    assert report["gates"][0]["metric"] == "final_nrmse"
    table = gate_table_text(rows)
    assert table.splitlines()[0].split() == [
        "metric", "check", "value", "limit", "baseline", "passed", "reason"
    ]  # fmt: skip
    assert "NO" in table


# ---------------------------------------------------------------- the champion in a registry


def register(client, name: str, metrics: dict[str, float] | None = None) -> tuple[str, str]:
    """A finished run registered as ``name``, aliased champion; returns (run_id, version)."""
    exp = client.create_experiment("gates")
    run = client.create_run(exp)
    client.set_terminated(run.info.run_id)
    client.create_registered_model(name)
    mv = client.create_model_version(
        name, source=f"runs:/{run.info.run_id}/model", run_id=run.info.run_id
    )
    client.set_registered_model_alias(name, "champion", mv.version)
    return run.info.run_id, str(mv.version)


def test_champion_is_found_and_its_cached_metrics_compared(client, store) -> None:
    st = connect(store)
    assert find_champion(st, "burgers-surrogate") is None  # no registered model
    run_id, version = register(client, "burgers-surrogate")
    champ = find_champion(st, "burgers-surrogate")
    assert champ is not None and champ.version == version and champ.run_id == run_id
    client.create_registered_model("other")
    assert find_champion(st, "other") is None  # registered, but no alias

    sel = Selection("test", "full")
    key = cache_key(sel, "datahash1")
    payload = {"metrics": {"final_nrmse": 0.2, "one_step_nrmse": 0.01}, "rollout_curve": [0.2]}
    client.set_model_version_tag("burgers-surrogate", version, key, json.dumps(payload))

    cfg = build_config(
        {
            "gates": {
                "metrics": [
                    {"metric": "final_nrmse", "min_relative_change": 0.1},
                    {"metric": "one_step_nrmse", "min_absolute_change": 0.0},
                ]
            }
        }
    )
    traj = np.zeros((2, 3, 8), dtype=np.float32)  # never evaluated: the cache answers
    kw = dict(evaluated_version=None, traj=traj, cond=None, selection=sel, device="cpu")
    base = champion_baseline(st, cfg, evaluated_run_id=None, data_hash="datahash1", **kw)
    assert base.metrics == {"final_nrmse": 0.2, "one_step_nrmse": 0.01}
    assert base.info["cached"] and base.label == f"champion v{version}"
    rows = evaluate_gates(
        {"final_nrmse": 0.17, "one_step_nrmse": 0.02, "nonfinite": 0.0},
        cfg.gates.model_copy(update={"physics": PHYS_OFF}),
        "full",
        baseline=base.metrics,
        baseline_label=base.label,
    )
    assert [(r.metric, r.passed, r.baseline) for r in rows] == [
        ("final_nrmse", True, 0.2),
        ("one_step_nrmse", False, 0.01),
    ]

    # the evaluated run IS the champion's source run: no comparison with itself
    me = champion_baseline(st, cfg, evaluated_run_id=run_id, data_hash="datahash1", **kw)
    assert me.metrics is None and "not compared with itself" in me.reason
    same_version = dict(kw, evaluated_version=("burgers-surrogate", version))
    me2 = champion_baseline(st, cfg, evaluated_run_id=None, data_hash="x", **same_version)
    assert me2.metrics is None and "itself" in me2.reason

    # other data: the cache does not apply; the champion's model does not exist -> error, gates fail
    other = champion_baseline(st, cfg, evaluated_run_id=None, data_hash="datahash2", **kw)
    assert other.metrics is None and other.error and "could not be evaluated" in other.error


def test_paired_gate_needs_better_beyond_noise() -> None:
    gates = GatesConfig(
        metrics=(
            GateConfig(metric="final_nrmse", min_relative_change=0.0, paired="bootstrap"),
            GateConfig(metric="final_nrmse", min_absolute_change=0.0, paired="wilcoxon"),
        ),
        physics=PHYS_OFF,
    )
    rng = np.random.default_rng(0)
    champ = rng.lognormal(np.log(0.03), 0.4, 64)
    same = champ + rng.normal(0, 3e-4, 64)  # the champion itself plus noise
    better = 0.8 * champ

    def rows(candidate):
        metrics = {"final_nrmse": float(candidate.mean()), "nonfinite": 0.0}
        return evaluate_gates(
            metrics,
            gates,
            "full",
            baseline={"final_nrmse": float(champ.mean())},
            baseline_label="champion v1",
            per_trajectory=candidate,
            baseline_per_trajectory=champ,
        )

    noisy = [r for r in rows(same) if r.metric == "final_nrmse"]
    assert [r.passed for r in noisy] == [False, False]
    assert all("not better beyond noise" in r.reason for r in noisy)
    lo, hi = noisy[0].interval
    assert lo < 0 < hi and "95% paired bootstrap vs champion v1" in noisy[0].reason
    good = [r for r in rows(better) if r.metric == "final_nrmse"]
    assert [r.passed for r in good] == [True, True]
    assert good[0].interval[1] < 0 and list(good[0].to_dict()["interval"]) == list(good[0].interval)
    assert "p=" in good[1].reason  # Wilcoxon reports its p-value

    # without a champion the paired check stays provisional, as every champion check does
    (row, _) = evaluate_gates({"final_nrmse": 0.1, "nonfinite": 0.0}, gates, "full")[:2]
    assert row.passed and row.provisional


def test_paired_gate_config_is_checked_at_load() -> None:
    bad = {
        "gates": {
            "metrics": [
                {"metric": "one_step_nrmse", "min_relative_change": 0.1, "paired": "bootstrap"}
            ]
        }
    }
    with pytest.raises(ConfigError, match="gates.metrics.0.paired: .*final_nrmse only"):
        build_config(bad)
    bad = {
        "gates": {"metrics": [{"metric": "final_nrmse", "threshold": 0.1, "paired": "bootstrap"}]}
    }
    with pytest.raises(ConfigError, match="paired needs a champion check"):
        build_config(bad)
