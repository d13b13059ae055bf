"""The server with MLflow basic auth: 401 without credentials, env credentials work,
and the admin password shows up nowhere (params, tags, artifacts, logs, argv, files).

Slow: one real ``mlflow server --app-name basic-auth`` on a SQLite store.
"""

from __future__ import annotations

import logging
import secrets
from pathlib import Path

import psutil
import pytest
import requests
from server_fixtures import ServerHandle

from unisim.tracking import TrackingTarget, start_run

pytestmark = pytest.mark.slow
PASSWORD = f"pw-{secrets.token_hex(12)}"  # fresh per session: a leak cannot be a coincidence


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("MLFLOW_AUTH_ADMIN_PASSWORD", PASSWORD)
    mp.delenv("MLFLOW_AUTH_ADMIN_USERNAME", raising=False)
    mp.delenv("MLFLOW_FLASK_SERVER_SECRET_KEY", raising=False)  # unisim makes one per start
    tmp = tmp_path_factory.mktemp("auth")
    handle = ServerHandle(f"sqlite:///{tmp / 'mlflow.db'}", tmp, auth=True)
    try:
        handle.start()
        yield handle
    finally:
        handle.stop()
        mp.undo()


def test_unauthenticated_or_wrong_credentials_get_401(auth_server):
    api = f"{auth_server.uri}/api/2.0/mlflow"
    assert requests.get(f"{auth_server.uri}/health", timeout=10).status_code == 200
    assert (
        requests.post(f"{api}/experiments/create", json={"name": "x"}, timeout=10).status_code
        == 401
    )
    batch = {"run_id": "0" * 32, "metrics": [{"key": "a", "value": 1, "timestamp": 0, "step": 0}]}
    assert requests.post(f"{api}/runs/log-batch", json=batch, timeout=10).status_code == 401
    wrong = requests.post(
        f"{api}/experiments/create", json={"name": "x"}, auth=("admin", "not-it"), timeout=10
    )
    assert wrong.status_code == 401
    ok = requests.get(
        f"{api}/experiments/search", params={"max_results": 1}, auth=("admin", PASSWORD), timeout=10
    )
    assert ok.status_code == 200


def test_env_credentials_work_and_the_password_leaks_nowhere(
    auth_server, monkeypatch, tmp_path, caplog, capfd
):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", "admin")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", PASSWORD)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", auth_server.uri)
    target = TrackingTarget(uri=auth_server.uri, source="env")
    with start_run(kind="train", experiment="auth", target=target, tags={"team": "a"}) as run:
        run.log_params({"training.lr": "0.001"})
        run.metrics.log({"train/loss": 0.5}, step=0)
        run.log_text("hello", "notes.txt")
        run.log_dict({"final_nrmse": 0.1}, "report.json")

    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=auth_server.uri)
    got = client.get_run(run.run_id)
    assert got.info.status == "FINISHED"
    assert got.data.params["training.lr"] == "0.001" and got.data.metrics["train/loss"] == 0.5
    texts = [*got.data.params.values(), *got.data.tags.values(), *got.data.tags.keys()]
    for item in client.list_artifacts(run.run_id):
        local = client.download_artifacts(run.run_id, item.path, str(tmp_path / "dl"))
        texts.append(Path(local).read_text(encoding="utf-8"))
    assert any("hello" in t for t in texts)  # the artifacts really were read
    texts.append(auth_server.log_text)  # the server's own log
    for path in auth_server.settings.state_path.parent.glob("*"):
        if path.suffix in (".json", ".ini", ".log"):
            texts.append(path.read_text(errors="replace"))
    texts += [rec.getMessage() for rec in caplog.records]
    out = capfd.readouterr()
    texts += [out.out, out.err]
    for proc in psutil.process_iter():  # argv of every process (ps shows it to all users)
        try:
            texts.append(" ".join(proc.cmdline()))
        except psutil.Error:
            continue
    assert not [t[:200] for t in texts if PASSWORD in t]


def test_missing_or_wrong_credentials_are_one_line(auth_server, monkeypatch, cli, tmp_path):
    import stat

    monkeypatch.setenv("MLFLOW_TRACKING_URI", auth_server.uri)
    monkeypatch.delenv("MLFLOW_TRACKING_USERNAME", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD", raising=False)
    config = tmp_path / "tiny.yaml"
    config.write_text("name: tiny\n")
    for creds in ({}, {"MLFLOW_TRACKING_USERNAME": "admin", "MLFLOW_TRACKING_PASSWORD": "no"}):
        for key, value in creds.items():
            monkeypatch.setenv(key, value)
        for args in (("runs", "list"), ("experiments", "list"), ("run", str(config))):
            code, _, err = cli(*args)
            lines = [ln for ln in err.splitlines() if ln.strip()]
            assert code == 2 and len(lines) == 1, (args, err)
            assert "refused the credentials" in lines[0] and "MLFLOW_TRACKING_USERNAME" in lines[0]
    ini = Path(auth_server.settings.state_dir) / "basic_auth.ini"
    assert stat.S_IMODE(ini.stat().st_mode) == 0o600  # it names the auth database
