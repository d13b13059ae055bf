"""The MLflow door: store resolution, run context, tags, params, statuses, batched metrics."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from unisim import tracking
from unisim.config import Config, config_hash
from unisim.errors import UnisimError
from unisim.tracking import MetricLogger, resolve_tracking, start_run


def test_default_is_local_sqlite_under_mlruns(tmp_path):
    target = resolve_tracking()
    assert target.uri == f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"
    assert target.artifact_root == (tmp_path / "mlruns" / "artifacts").as_uri()
    assert target.source == "profile:local"


def test_precedence_flag_env_profile(tmp_path, monkeypatch):
    (tmp_path / "mlruns-config").mkdir()
    (tmp_path / "mlruns-config" / "team.yaml").write_text("tracking_uri: ${TEAM_URI}\n")
    monkeypatch.setenv("TEAM_URI", "http://team:5000")
    assert resolve_tracking(profile="team").uri == "http://team:5000"
    monkeypatch.setenv("UNISIM_PROFILE", "team")
    assert resolve_tracking().source == "profile:team"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://env:5000")
    assert resolve_tracking(profile="team").uri == "http://env:5000"
    assert resolve_tracking("http://flag:5000", profile="team").uri == "http://flag:5000"


def test_stray_mlflow_db_and_file_store_are_not_used(tmp_path):
    (tmp_path / "mlflow.db").write_text("")
    assert "mlruns/mlflow.db" in resolve_tracking().uri
    with pytest.raises(UnisimError, match="plain file store"):
        resolve_tracking("./mlruns")


def test_missing_profile_and_unset_variable(tmp_path, monkeypatch):
    with pytest.raises(UnisimError, match="profile 'nope' not found"):
        resolve_tracking(profile="nope")
    (tmp_path / "mlruns-config").mkdir()
    (tmp_path / "mlruns-config" / "team.yaml").write_text("tracking_uri: ${UNSET_URI_X}\n")
    with pytest.raises(UnisimError, match="unset environment variable"):
        resolve_tracking(profile="team")


def test_run_has_standard_tags_params_and_config(store, client):
    cfg = Config()
    with start_run(kind="train", experiment="exp-a", target=store, cfg=cfg, stage="fast") as run:
        run.metrics.log({"train/loss": 0.5}, step=1)
    got = client.get_run(run.run_id)
    tags = got.data.tags
    assert got.info.status == "FINISHED"
    assert tags["unisim.kind"] == "train" and tags["unisim.stage"] == "fast"
    assert tags["unisim.status"] == "success"
    assert tags["unisim.config_hash"] == config_hash(cfg)
    for key in ("unisim.python_version", "unisim.torch_version", "unisim.mlflow_version"):
        assert tags[key]
    assert got.data.params["model.latent.dim"] == "16"
    assert got.data.metrics["train/loss"] == 0.5
    text = client.download_artifacts(run.run_id, "config.yaml")
    assert "latent" in Path(text).read_text()
    exp = client.get_experiment(run.experiment_id)
    assert exp.name == "exp-a" and exp.artifact_location.startswith(store.artifact_root)


def test_git_tags_inside_a_repository(store, client, tmp_path):
    subprocess.run(["git", "init", "-q"], check=True)
    (tmp_path / "f.txt").write_text("x")
    (tmp_path / ".gitignore").write_text("store/\n")  # the tmp store: ignored, so clean
    subprocess.run(["git", "add", "f.txt", ".gitignore"], check=True)
    subprocess.run(
        ["git", "-c", "user.email=a@b", "-c", "user.name=a", "commit", "-qm", "x"], check=True
    )
    with start_run(kind="train", experiment="e", target=store, config_path=tmp_path / "f.txt") as r:
        pass
    tags = client.get_run(r.run_id).data.tags
    assert len(tags["unisim.git_commit"]) == 40 and tags["unisim.git_dirty"] == "false"


def test_exception_ends_failed_with_reason_and_keeps_metrics(store, client):
    with pytest.raises(ValueError), start_run(kind="train", experiment="e", target=store) as run:
        for step in range(50):
            run.metrics.log({"train/loss": float(step)}, step=step)
        raise ValueError("loss is nan at step 50")
    got = client.get_run(run.run_id)
    assert got.info.status == "FAILED"
    assert got.data.tags["unisim.failure_reason"] == "ValueError: loss is nan at step 50"
    assert got.data.tags["unisim.status"] == "failed"
    history = client.get_metric_history(run.run_id, "train/loss")
    assert sorted(m.step for m in history) == list(range(50))


def test_keyboard_interrupt_ends_killed(store, client):
    with pytest.raises(KeyboardInterrupt), start_run(kind="x", experiment="e", target=store) as run:
        raise KeyboardInterrupt
    got = client.get_run(run.run_id)
    assert got.info.status == "KILLED"
    assert "interrupted" in got.data.tags["unisim.failure_reason"]


def test_nested_runs_have_parent(store, client):
    with start_run(kind="pipeline", experiment="e", target=store) as parent:
        with start_run(
            kind="train", experiment="e", target=store, parent_run_id=parent.run_id
        ) as c:
            pass
    tags = client.get_run(c.run_id).data.tags
    assert tags["mlflow.parentRunId"] == parent.run_id
    assert tags["unisim.parent_run"] == parent.run_id


def test_param_cannot_change(store):
    with pytest.raises(UnisimError, match="cannot change"):
        with start_run(kind="x", experiment="e", target=store) as run:
            run.log_params({"a": "1"})
            run.log_params({"a": "1"})  # same value: fine
            run.log_params({"a": "2"})


def test_metric_logger_batches_and_loses_nothing(store, client):
    with start_run(kind="x", experiment="e", target=store) as run:
        logger = MetricLogger(client, run.run_id)
        for step in range(2500):
            logger.log({"a": step, "b": -step}, step=step)
        assert logger.pending == 5000  # nothing sent until a flush
        logger.flush()
        assert logger.pending == 0 and logger.sent == 5000
    assert len(client.get_metric_history(run.run_id, "a")) == 2500


def test_metric_logger_keeps_points_when_send_fails(store, client, monkeypatch):
    with start_run(kind="x", experiment="e", target=store) as run:
        logger = MetricLogger(client, run.run_id)
        logger.log({"a": 1.0}, step=0)
        real = client.log_batch

        def broken(*args, **kwargs):
            raise ConnectionError("server away")

        monkeypatch.setattr(client, "log_batch", broken)
        assert logger.flush() is False  # training goes on; the point is kept
        assert logger.pending == 1
        monkeypatch.setattr(client, "log_batch", real)
        assert logger.close() == 0  # a last attempt that ignores the backoff
    assert [m.value for m in client.get_metric_history(run.run_id, "a")] == [1.0]


def test_ui_links_go_to_runs_not_the_genai_overview(store):
    ml = "?workflowType=machine_learning"  # MLflow 3.17's model-training view
    assert tracking.experiment_url(store, "3").endswith(f"/#/experiments/3/runs{ml}")
    assert tracking.run_url(store, "3", "abc").endswith(f"/#/experiments/3/runs/abc{ml}")
    url = tracking.compare_url(store, "3", ["a", "b"])
    assert "#/compare-runs?runs=%5B%22a%22%2C%22b%22%5D&experiments=%5B%223%22%5D" in url


def test_help_imports_neither_torch_nor_mlflow(repo):
    code = (
        "import sys\nfrom unisim.cli import main\nrc = main(['--help'])\n"
        "heavy = [m for m in ('torch', 'mlflow') if m in sys.modules]\n"
        "print('HEAVY', heavy)\nsys.exit(rc)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=repo, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert "HEAVY []" in out.stdout


def test_version_and_module_entry_point(repo):
    out = subprocess.run(
        [sys.executable, "-m", "unisim", "--version"], capture_output=True, text=True, cwd=repo
    )
    assert out.returncode == 0 and out.stdout.startswith("unisim ")
