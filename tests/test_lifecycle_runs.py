"""``unisim runs list|show|compare|open`` via the CLI, on runs made as the pipeline makes them."""

from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import unquote

import pytest
from test_lifecycle_support import make_folder, pipeline_run

from unisim import tracking

NAME = "2026-02-01-lr-sweep"


@pytest.fixture(scope="module")
def _sweep(tmp_path_factory):
    """Two pipeline runs (one with a child) in one store, built once for the module."""
    root = tmp_path_factory.mktemp("sweep")
    db = root / "store" / "mlflow.db"
    db.parent.mkdir()
    store = tracking.TrackingTarget(f"sqlite:///{db}", (root / "store" / "artifacts").as_uri())
    cwd = Path.cwd()
    os.chdir(root)  # tracking's metric journal lives under ./mlruns
    try:
        folder = make_folder(root, NAME)
        lr = {"training.lr": "0.001", "seed": "0"}
        fast = pipeline_run(store, folder, nrmse=0.08, params=lr, children=1)
        lr = {"training.lr": "0.01", "seed": "0"}
        slow = pipeline_run(store, folder, gates=False, nrmse=0.2, params=lr)
    finally:
        os.chdir(cwd)
    exp_id = tracking.configure(store).get_experiment_by_name(NAME).experiment_id
    return store, exp_id, fast, slow


@pytest.fixture
def sweep(_sweep, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", _sweep[0].uri)
    return _sweep


def test_runs_list_filters_by_experiment_kind_and_filter(sweep, cli):
    store, _, fast, slow = sweep
    code, out, err = cli("runs", "list", NAME)
    assert code == 0, err
    assert fast in out and slow in out and "train" in out  # the child run is listed too
    code, out, _ = cli("runs", "list", f"experiments/{NAME}", "--kind", "pipeline", "--json")
    rows = json.loads(out)
    assert [r["run_id"] for r in rows] == [slow, fast]  # newest first
    assert {r["kind"] for r in rows} == {"pipeline"} and rows[1]["final_nrmse"] == 0.08
    code, out, _ = cli("runs", "list", "--filter", "metrics.final_nrmse < 0.1", "--json")
    assert [r["run_id"] for r in json.loads(out)] == [fast]
    code, _, err = cli("runs", "list", "--filter", "metrics.final_nrmse <<< 1")
    assert code == 2 and err.startswith("error: --filter") and err.count("\n") == 1
    code, _, err = cli("runs", "list", "no-such-experiment")
    assert code == 2 and "not found" in err


def test_runs_show_prints_params_metrics_tags_artifacts_and_url(sweep, cli):
    store, exp_id, fast, _ = sweep
    code, out, err = cli("runs", "show", fast)
    assert code == 0, err
    for text in ("training.lr", "0.001", "final_nrmse", "0.08", tracking.TAG_GATES_PASSED,
                 "report.json", tracking.run_url(store, exp_id, fast)):  # fmt: skip
        assert text in out
    detail = json.loads(cli("runs", "show", fast, "--json")[1])
    assert detail["params"]["training.lr"] == "0.001"
    assert detail["tags"][tracking.TAG_KIND] == "pipeline" and "report.json" in detail["artifacts"]


def test_runs_compare_shows_only_differing_params_and_metrics_side_by_side(sweep, cli):
    store, exp_id, fast, slow = sweep
    code, out, err = cli("runs", "compare", fast, slow)
    assert code == 0, err
    assert "training.lr" in out and "0.001" in out and "0.01" in out
    assert "params that differ (1;" in out  # seed is equal: not shown as a difference
    assert "0.08 *" in out  # best final_nrmse marked
    data = json.loads(cli("runs", "compare", fast, slow, "--json")[1])
    assert list(data["params"]) == ["training.lr"]
    assert data["metrics"]["final_nrmse"] == [0.08, 0.2] and data["best"]["final_nrmse"] == 0
    assert unquote(data["url"]).endswith(
        f'runs=["{fast}","{slow}"]&experiments=["{exp_id}"]&workflowType=machine_learning'
    )
    assert data["url"] == tracking.compare_url(store, exp_id, [fast, slow])
    code, _, err = cli("runs", "compare", fast)
    assert code == 2 and "two or more" in err


def test_runs_open_prints_the_ui_url(sweep, cli):
    store, exp_id, fast, _ = sweep
    code, out, _ = cli("runs", "open", fast)
    assert code == 0 and out.strip() == tracking.run_url(store, exp_id, fast)
    assert out.strip().endswith(f"#/experiments/{exp_id}/runs/{fast}?workflowType=machine_learning")


@pytest.mark.parametrize("run_id", ["0" * 32, "not-a-run"])
def test_unknown_runs_are_one_line_errors(sweep, cli, run_id):
    for command in ("show", "open"):
        code, _, err = cli("runs", command, run_id)
        assert code == 2 and err.startswith("error: run") and err.count("\n") == 1
