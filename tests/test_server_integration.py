"""The team setup over HTTP: an MLflow server on PostgreSQL (a fresh database per session).

Runs, artifacts and metrics through the server; then the tiny pipeline, the lifecycle
list, promotion and the leaderboard, each through the real CLI with
MLFLOW_TRACKING_URI pointing at the server. PostgreSQL down: skip, or fail under CI=true.
Slow: the server start (~1 min) and the tiny pipeline (~1 min on a busy box).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import subprocess_env

from unisim.tracking import STATUS_SUCCESS, TAG_STATUS, start_run

pytest_plugins = ["server_fixtures"]  # pg_database, pg_server, server_tracking
pytestmark = [pytest.mark.slow, pytest.mark.postgres]

TINY = """
name: tiny
data: {nu: 0.1, nx: 32, solver_nx: 256, nt: 11, n_train: 12, n_val: 4, n_test: 4}
model:
  name: latent
  latent: {dim: 8, tokens: 8, layers: 1, heads: 2, hidden: 16}
training: {epochs: 2, batch_size: 6, rollout_steps: 2, checkpoint_every: 1}
evaluation: {plot_trajectories: 1}
gates:
  metrics:
    - {metric: final_nrmse, threshold: 10.0}
"""


def unisim(*args: str, uri: str, cwd: Path) -> subprocess.CompletedProcess:
    env = subprocess_env()
    env["MLFLOW_TRACKING_URI"] = uri
    for var in ("UNISIM_PROFILE", "MLFLOW_REGISTRY_URI"):
        env.pop(var, None)
    return subprocess.run(
        [sys.executable, "-m", "unisim", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


def test_runs_metrics_and_artifacts_go_through_the_server_into_postgres(
    server_tracking, pg_server, pg_database
):
    with start_run(kind="train", experiment="http-basic", target=server_tracking) as run:
        run.log_params({"model.latent.dim": "8"})
        for step in range(3):
            run.metrics.log({"train/loss": 1.0 / (step + 1)}, step=step)
        assert run.metrics.flush()
        run.log_dict({"final_nrmse": 0.1}, "report.json")

    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=pg_server.uri)
    got = client.get_run(run.run_id)
    assert got.info.status == "FINISHED" and got.data.tags[TAG_STATUS] == STATUS_SUCCESS
    assert [m.step for m in client.get_metric_history(run.run_id, "train/loss")] == [0, 1, 2]
    assert got.info.artifact_uri.startswith("mlflow-artifacts:")  # proxied by the server
    stored = list(Path(pg_server.settings.artifacts_destination).rglob("report.json"))
    assert any(run.run_id in str(p) for p in stored)

    import psycopg

    with psycopg.connect(pg_database.replace("postgresql+psycopg", "postgresql")) as conn:
        (count,) = conn.execute(
            "SELECT count(*) FROM metrics WHERE run_uuid = %s", (run.run_id,)
        ).fetchone()
    assert count == 3  # the rows are in PostgreSQL


@pytest.fixture(scope="module")
def tiny_pipeline(pg_server, tmp_path_factory):
    """`unisim experiments new` + `unisim run` of a tiny config; yields (workdir, folder)."""
    work = tmp_path_factory.mktemp("team")
    (work / "tiny.yaml").write_text(TINY)
    made = unisim("experiments", "new", "tiny", "--from", "tiny.yaml", uri=pg_server.uri, cwd=work)
    assert made.returncode == 0, made.stderr
    (folder,) = (work / "experiments").iterdir()
    ran = unisim(
        "run",
        f"experiments/{folder.name}/config.yaml",
        "--strict-exit",
        uri=pg_server.uri,
        cwd=work,
    )
    assert ran.returncode == 0, ran.stdout[-2000:] + ran.stderr[-2000:]
    return work, folder.name


def pipeline_runs(uri: str, experiment: str):
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(experiment)
    assert exp is not None
    runs = client.search_runs([exp.experiment_id], "tags.`unisim.kind` = 'pipeline'")
    return client, runs


def test_tiny_pipeline_over_http(tiny_pipeline, pg_server):
    _, name = tiny_pipeline
    client, runs = pipeline_runs(pg_server.uri, name)
    (parent,) = runs
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["unisim.gates_passed"] == "true"
    assert 0 < parent.data.metrics["final_nrmse"] < 10
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"report.json", "config.yaml"} <= artifacts
    report = json.loads(
        Path(client.download_artifacts(parent.info.run_id, "report.json")).read_text()
    )
    assert report["final_nrmse"] == pytest.approx(parent.data.metrics["final_nrmse"])
    children = client.search_runs(
        [parent.info.experiment_id], f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'"
    )
    assert {r.data.tags["unisim.kind"] for r in children} >= {"train", "evaluate"}


def test_lifecycle_list_over_http(tiny_pipeline, pg_server, cli, monkeypatch):
    work, name = tiny_pipeline
    monkeypatch.chdir(work)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", pg_server.uri)
    code, out, err = cli("experiments", "list", "--json")
    assert code == 0, err
    rows = {r["name"]: r for r in json.loads(out)}
    assert rows[name]["status"] in ("success", "promoted")  # promoted once the next test ran
    assert rows[name]["runs"] >= 1


def test_promotion_and_leaderboard_over_http(tiny_pipeline, pg_server, cli, monkeypatch):
    work, name = tiny_pipeline
    monkeypatch.chdir(work)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", pg_server.uri)
    client, (parent,) = pipeline_runs(pg_server.uri, name)

    code, out, err = cli("promote", f"experiments/{name}")
    assert code == 0, out + err
    versions = client.search_model_versions(f"run_id = '{parent.data.tags['unisim.train_run']}'")
    assert len(versions) == 1
    version = versions[0]
    assert client.get_model_version_by_alias(version.name, "champion").version == version.version
    assert client.get_run(parent.info.run_id).data.tags["unisim.status"] == "promoted"
    assert list((work / "configs").glob("train_*.yaml"))

    code, out, err = cli("experiments", "list", "--json")
    assert code == 0 and {r["name"]: r for r in json.loads(out)}[name]["status"] == "promoted"

    code, out, err = cli("leaderboard", "--json")
    assert code == 0, err
    rows = json.loads(out)
    mine = [r for r in rows if r["run_id"] == parent.info.run_id]
    assert len(mine) == 1 and mine[0]["final_nrmse"] == pytest.approx(
        parent.data.metrics["final_nrmse"]
    )
    assert str(mine[0]["model_version"]) == str(version.version)
