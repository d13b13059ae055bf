"""Experiment status from MLflow runs (and files when there are none), with an injected clock."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import subprocess_env
from test_lifecycle_support import make_folder, pipeline_run, running_run

from unisim import tracking
from unisim.errors import UnisimError
from unisim.experiments.folders import ARCHIVE_DIR
from unisim.experiments.status import StatusSettings, list_experiments, utcnow

P = "2026-01-01-"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """One store and folder tree holding every status case (built once: runs cost time)."""
    root = tmp_path_factory.mktemp("world")
    db = root / "store" / "mlflow.db"
    db.parent.mkdir()
    store = tracking.TrackingTarget(
        uri=f"sqlite:///{db}", artifact_root=(root / "store" / "artifacts").as_uri()
    )
    client = tracking.configure(store)
    cwd = Path.cwd()
    os.chdir(root)  # the metric journal of tracking lives under ./mlruns
    try:
        f = make_folder(root, P + "succ")
        pipeline_run(store, f, gates=None, nrmse=None, crash=True)
        pipeline_run(store, f, gates=True, nrmse=0.12, children=2)
        f = make_folder(root, P + "newest-fails")
        pipeline_run(store, f, gates=True, nrmse=0.05)
        pipeline_run(store, f, gates=False, nrmse=0.3)
        f = make_folder(root, P + "crashed")
        pipeline_run(store, f, gates=None, nrmse=None, crash=True)
        f = make_folder(root, P + "running")
        pipeline_run(store, f, gates=True, nrmse=0.2)
        running_run(store, f)
        f = make_folder(root, P + "promoted")
        rid = pipeline_run(store, f, gates=True, nrmse=0.08)
        client.set_tag(rid, tracking.TAG_STATUS, "promoted")
        client.set_tag(rid, tracking.TAG_MODEL_VERSION, "3")
        pipeline_run(store, make_folder(root, P + "trainonly"), kind="train", gates=None)
        make_folder(root, P + "fileok", {"reports/report.json": b'{"gates_passed": true, '
                                         b'"final_nrmse": 0.2}'})  # fmt: skip
        bad = make_folder(root, P + "filebad")
        (bad / "notes.md").write_text("# x\n\n## Results\n\n- ✓ first try\n- ✗ diverged\n")
        old = make_folder(root, P + "fileold", {"checkpoints/last.pt": b"\0" * 10})
        ancient = (utcnow() - timedelta(days=40)).timestamp()
        for path in [*old.rglob("*"), old]:
            os.utime(path, (ancient, ancient))
        make_folder(root, P + "empty")
        (root / ARCHIVE_DIR / (P + "old")).mkdir(parents=True)
    finally:
        os.chdir(cwd)
    return root, store, utcnow()


CASES = [
    ("succ", 0, "success"),
    ("succ", 60, "success"),  # a result does not go stale
    ("newest-fails", 0, "failed"),
    ("crashed", 0, "failed"),
    ("running", 0, "active"),
    ("running", 60, "active"),  # a RUNNING run beats any clock
    ("promoted", 0, "promoted"),
    ("trainonly", 0, "active"),
    ("trainonly", 10, "idle"),
    ("trainonly", 31, "stale"),
    ("fileok", 0, "success"),
    ("filebad", 0, "failed"),
    ("fileold", 0, "stale"),
    ("empty", 0, "active"),
    ("empty", 10, "idle"),
    ("empty", 31, "stale"),
    ("old", 0, "archived"),
]


def _by_name(world, days=0.0, settings=None, via="auto"):
    root, store, now = world
    rows = list_experiments(
        store, root=root, now=now + timedelta(days=days), settings=settings, via=via
    )
    return {r.name.removeprefix(P): r for r in rows}


@pytest.mark.parametrize(("name", "days", "expected"), CASES)
def test_status_rules(world, name, days, expected):
    summary = _by_name(world, days)[name]
    assert summary.status == expected, summary.reason


def test_columns_come_from_the_runs(world):
    rows = _by_name(world)
    assert rows["succ"].runs == 2 and rows["succ"].best_nrmse == pytest.approx(0.12)
    assert rows["succ"].source == "mlflow" and rows["succ"].folder == f"experiments/{P}succ"
    assert rows["newest-fails"].best_nrmse == pytest.approx(0.05)
    assert "gates failed" in rows["newest-fails"].reason
    assert rows["promoted"].model_version == "3"
    assert len(rows["running"].running) == 1
    assert rows["fileok"].source == "files" and rows["fileok"].best_nrmse == pytest.approx(0.2)
    assert rows["trainonly"].runs == 0  # pipeline runs only


def test_thresholds_are_settings(world):
    fast = StatusSettings(active_days=1, stale_days=2)
    assert _by_name(world, 0.5, fast)["trainonly"].status == "active"
    assert _by_name(world, 1.5, fast)["trainonly"].status == "idle"
    assert _by_name(world, 3, fast)["trainonly"].status == "stale"
    assert StatusSettings.from_env({"UNISIM_ACTIVE_DAYS": "2", "UNISIM_STALE_DAYS": "9"}) == (
        StatusSettings(2, 9)
    )
    with pytest.raises(UnisimError):
        StatusSettings.from_env({"UNISIM_ACTIVE_DAYS": "40"})


@pytest.mark.parametrize("days", [0, 31])
def test_sql_read_and_mlflow_api_agree(world, days):
    def key(rows):
        return {
            n: (r.status, r.runs, r.best_nrmse, r.model_version, r.running, r.experiment_id)
            for n, r in rows.items()
        }

    assert key(_by_name(world, days, via="sql")) == key(_by_name(world, days, via="api"))


def test_cli_list_json_filter_and_clock(world, cli, monkeypatch):
    root, store, now = world
    monkeypatch.chdir(root)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store.uri)
    code, out, _ = cli("experiments", "list", "--json")
    assert code == 0
    statuses = {r["name"].removeprefix(P): r["status"] for r in json.loads(out)}
    assert statuses["succ"] == "success" and "old" not in statuses  # archived: only with --all
    later = (now + timedelta(days=31)).isoformat()
    code, out, _ = cli("experiments", "list", "--status", "stale", "--as-of", later, "--json")
    assert code == 0
    assert {r["name"].removeprefix(P) for r in json.loads(out)} == {
        "trainonly", "fileold", "empty"
    }  # fmt: skip
    code, out, _ = cli("experiments", "list", "--all")
    assert code == 0 and "archived" in out and P + "promoted" in out and "v3" in out
    code, _, err = cli("experiments", "list", "--status", "bogus")
    assert code == 2 and err.count("\n") == 1


def test_list_reads_sqlite_without_importing_mlflow_or_creating_a_store(world, tmp_path):
    root, store, _ = world
    script = (
        "import json, sys\n"
        "from unisim.cli import main\n"
        "code = main(['experiments', 'list', '--json'])\n"
        "print(json.dumps({'code': code, 'mlflow': 'mlflow' in sys.modules}), file=sys.stderr)\n"
    )
    env = {**subprocess_env(), "MLFLOW_TRACKING_URI": store.uri}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=root, env=env, capture_output=True, text=True
    )
    assert json.loads(done.stderr.strip().splitlines()[-1]) == {"code": 0, "mlflow": False}
    assert {r["status"] for r in json.loads(done.stdout)} >= {"success", "failed", "active"}
    # no store at all: nothing listed, nothing created
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{tmp_path}/none/mlflow.db"
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert json.loads(done.stdout) == [] and not (tmp_path / "none").exists()
