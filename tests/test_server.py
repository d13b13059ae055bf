"""Fast checks of ``unisim server``: settings, refusals, status/stop with nothing running.

The tests that start real servers are in test_server_lifecycle.py, test_server_outage.py,
test_server_auth.py and test_server_integration.py (all ``slow``).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from unisim.errors import ConfigError
from unisim.server import ServerState, load_server_settings, redact_uri


@pytest.fixture
def shipped(repo, monkeypatch):
    """Use the repository's mlruns-config/server.yaml."""
    monkeypatch.setenv("UNISIM_CONFIG_DIR", str(repo / "mlruns-config"))
    for var in ("UNISIM_SERVER_DB_URI", "UNISIM_SERVER_PORT", "UNISIM_SERVER_AUTH"):
        monkeypatch.delenv(var, raising=False)


def write_settings(tmp_path, body: str):
    folder = tmp_path / "mlruns-config"
    folder.mkdir(exist_ok=True)
    (folder / "server.yaml").write_text(textwrap.dedent(body))
    return folder / "server.yaml"


def test_shipped_team_profile_is_postgres_on_localhost_with_one_worker(shipped, tmp_path):
    s = load_server_settings()
    assert s.profile == "team"
    assert s.backend_store_uri.startswith("postgresql+psycopg://")
    assert (s.host, s.port, s.workers, s.auth, s.job_execution) == (
        "127.0.0.1",
        5000,
        1,
        False,
        False,
    )
    assert s.artifacts_destination == str(tmp_path / "mlruns" / "server-artifacts")
    assert s.url == "http://127.0.0.1:5000"
    assert s.state_path == tmp_path / "mlruns" / "server.json"


def test_env_variables_and_overrides_fill_the_profile(shipped, tmp_path, monkeypatch):
    monkeypatch.setenv("UNISIM_SERVER_DB_URI", "postgresql+psycopg://u:pw@db:5432/mlflow")
    monkeypatch.setenv("UNISIM_SERVER_PORT", "5005")
    monkeypatch.setenv("UNISIM_SERVER_HOST", "0.0.0.0")
    s = load_server_settings("team", workers=2, auth=True, port=None)
    assert s.backend_store_uri == "postgresql+psycopg://u:pw@db:5432/mlflow"
    assert (s.port, s.workers, s.auth) == (5005, 2, True)
    assert s.url == "http://127.0.0.1:5005"  # clients on this machine use loopback
    local = load_server_settings("local")
    assert local.backend_store_uri == f"sqlite:///{tmp_path / 'mlruns' / 'mlflow.db'}"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("profiles:\n  team:\n    backend_store_uri: ${NOPE_UNSET}\n", "NOPE_UNSET is not set"),
        (
            "profiles:\n  team:\n    backend_store_uri: x\n    artifacts_destination: a\n"
            "    wrokers: 2\n",
            "profiles.team.wrokers: Extra inputs are not permitted",
        ),
        (
            "profiles:\n  team:\n    backend_store_uri: x\n    artifacts_destination: a\n"
            "    port: http\n",
            "profiles.team.port",
        ),
        ("profiles:\n  other: {}\n", "profile 'team' not found"),
        ("nothing: here\n", "profiles: required"),
    ],
)
def test_bad_settings_fail_with_one_line_naming_file_and_key(tmp_path, body, message):
    path = write_settings(tmp_path, body)
    with pytest.raises(ConfigError) as err:
        load_server_settings("team")
    text = str(err.value)
    assert str(path) in text and message in text and "\n" not in text


def test_passwords_are_redacted():
    assert (
        redact_uri("postgresql+psycopg://u:pw@db:5432/x") == "postgresql+psycopg://u:***@db:5432/x"
    )
    assert redact_uri("sqlite:////tmp/a.db") == "sqlite:////tmp/a.db"


def test_status_and_stop_with_nothing_running(shipped, cli):
    assert cli("server", "status") == (1, "not running\n", "")
    code, out, _ = cli("server", "stop")
    assert code == 0 and "nothing to stop" in out


def test_auth_without_admin_password_is_refused_before_anything_starts(shipped, cli, monkeypatch):
    monkeypatch.delenv("MLFLOW_AUTH_ADMIN_PASSWORD", raising=False)
    monkeypatch.setenv("UNISIM_SERVER_DB_URI", "sqlite:///mlruns/db.sqlite")
    code, out, err = cli("server", "start", "--auth", "--port", "5999")
    assert code == 2
    assert "error: --auth needs the admin password in MLFLOW_AUTH_ADMIN_PASSWORD" in err
    assert "Traceback" not in err and out == ""
    assert not Path("mlruns/server.json").exists() and not Path("mlruns/db.sqlite").exists()


def test_start_refuses_a_port_in_use(shipped, cli, monkeypatch):
    monkeypatch.setenv("UNISIM_SERVER_DB_URI", "sqlite:///mlruns/db.sqlite")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        code, _, err = cli("server", "start", "--port", str(port))
    assert code == 2 and f"port {port} on 127.0.0.1 is already in use" in err


def test_stop_never_kills_a_recycled_pid(shipped, tmp_path, cli):
    """A state file whose pid now belongs to another process: removed, nothing killed."""
    from unisim.fsutil import atomic_write_json

    other = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(30)"], start_new_session=True
    )
    try:
        state = ServerState(
            pid=other.pid,
            pgid=other.pid,
            create_time=1.0,  # not that process's create time
            uri="http://127.0.0.1:1",
            host="127.0.0.1",
            port=1,
            workers=1,
            auth=False,
            profile="team",
            backend="sqlite:///x",
            artifacts_destination="a",
            log_file=None,
            started_at=0.0,
        )
        atomic_write_json(tmp_path / "mlruns" / "server.json", state.__dict__)
        assert cli("server", "status")[0] == 1
        code, out, _ = cli("server", "stop")
        assert code == 0 and "nothing to stop" in out
        assert other.poll() is None  # still alive
        assert not (tmp_path / "mlruns" / "server.json").exists()
    finally:
        other.kill()
        other.wait()


def test_command_module_imports_neither_mlflow_nor_torch(repo):
    code = (
        "import sys, unisim.commands.server, unisim.server, unisim.tracking.journal; "
        "bad = [m for m in ('mlflow', 'torch') if m in sys.modules]; "
        "sys.exit(f'imported {bad}' if bad else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=repo, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
