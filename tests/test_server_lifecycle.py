"""``unisim server start/status/stop`` as real processes: works, then leaves nothing behind.

Slow (~1-2 min on a busy 2-core box): a real ``mlflow server`` with 2 uvicorn workers
and MLflow's job runner (huey consumers) on a SQLite store, driven by the real CLI.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import psutil
import pytest
from conftest import subprocess_env
from server_fixtures import free_port

pytestmark = pytest.mark.slow


def unisim(*args: str, env: dict, cwd) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "unisim", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=400,
    )


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_start_serves_and_stop_leaves_no_process_behind(repo, tmp_path):
    port = free_port()
    env = subprocess_env()
    env.update(
        UNISIM_CONFIG_DIR=str(repo / "mlruns-config"),
        UNISIM_SERVER_DB_URI="sqlite:///mlruns/server.db",
        UNISIM_SERVER_PORT=str(port),
        UNISIM_SERVER_WORKERS="2",
        UNISIM_SERVER_JOB_EXECUTION="true",  # the job runner spawns more children
    )
    started = unisim("server", "start", env=env, cwd=tmp_path)
    assert started.returncode == 0, started.stderr
    uri = f"http://127.0.0.1:{port}"
    assert started.stdout.strip() == uri

    state = json.loads((tmp_path / "mlruns" / "server.json").read_text())
    assert state["pid"] == state["pgid"] and state["uri"] == uri
    assert "server.db" in state["backend"]

    # let the job runner start its consumers, then take the full tree
    root = psutil.Process(state["pid"])
    tree: set[int] = set()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        tree |= {p.pid for p in root.children(recursive=True)}
        cmdlines = " ".join(" ".join(psutil.Process(p).cmdline()) for p in tree if alive(p))
        if "huey" in cmdlines:
            break
        time.sleep(1)
    tree |= {p.pid for p in root.children(recursive=True)} | {root.pid}
    assert len(tree) >= 4, tree  # mlflow, uvicorn supervisor + 2 workers, job runner ...

    status = unisim("server", "status", env=env, cwd=tmp_path)
    assert status.returncode == 0 and f"{uri} healthy" in status.stdout

    # it is a working tracking server with proxied artifacts
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    exp = client.create_experiment("lifecycle")
    run = client.create_run(exp)
    client.log_metric(run.info.run_id, "train/loss", 0.5, step=1)
    client.log_text(run.info.run_id, "hello", "notes.txt")
    assert client.get_metric_history(run.info.run_id, "train/loss")[0].value == 0.5
    stored = list((tmp_path / "mlruns" / "server-artifacts").rglob("notes.txt"))
    assert len(stored) == 1 and stored[0].read_text() == "hello"

    stopped = unisim("server", "stop", env=env, cwd=tmp_path)
    assert stopped.returncode == 0, stopped.stderr
    assert f"stopped {uri}" in stopped.stdout
    left = [pid for pid in tree if alive(pid)]
    assert left == [], [psutil.Process(p).cmdline() for p in left]
    group = [p.pid for p in psutil.process_iter() if _pgid(p.pid) == state["pgid"]]
    assert [p for p in group if alive(p)] == []
    assert not (tmp_path / "mlruns" / "server.json").exists()

    again = unisim("server", "stop", env=env, cwd=tmp_path)
    assert again.returncode == 0 and "nothing to stop" in again.stdout
    assert unisim("server", "status", env=env, cwd=tmp_path).returncode == 1


def _pgid(pid: int) -> int | None:
    import os

    try:
        return os.getpgid(pid)
    except OSError:
        return None


def test_foreground_server_stops_cleanly_on_sigterm(repo, tmp_path):
    """What the compose file runs: attached; SIGTERM (docker stop) takes the tree down."""
    import signal

    from unisim.server import check_health

    port = free_port()
    env = subprocess_env()
    env.update(
        UNISIM_CONFIG_DIR=str(repo / "mlruns-config"),
        UNISIM_SERVER_DB_URI="sqlite:///mlruns/server.db",
        UNISIM_SERVER_PORT=str(port),
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "unisim", "server", "start", "--foreground"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 300
        while not check_health(f"http://127.0.0.1:{port}"):
            assert proc.poll() is None, proc.stdout.read()
            assert time.monotonic() < deadline, "not healthy in time"
            time.sleep(1)
        tree = {p.pid for p in psutil.Process(proc.pid).children(recursive=True)}
        assert tree
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        from unisim.server import stop_server

        leftovers = stop_server(tmp_path / "mlruns" / "server.json")  # only if the test failed
    assert proc.returncode == 0, out[-2000:]
    assert not leftovers["was_running"]
    assert [pid for pid in tree if alive(pid)] == []
    assert not (tmp_path / "mlruns" / "server.json").exists()
