"""Faults unisim must survive: a fresh store used by many commands at once, a server
that is down or never answers, bad URIs and credentials, dead and terminated runs.

Each test drives real ``unisim`` processes (or the CLI in process) against real
SQLite stores, closed ports and listening sockets that never answer.
"""

from __future__ import annotations

import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import subprocess_env


def unisim(*args: str, cwd: Path, env: dict | None = None, timeout: float = 300):
    """Run ``python -m unisim ARGS`` to the end: (exit code, stdout, stderr)."""
    proc = subprocess.run(
        [sys.executable, "-m", "unisim", *map(str, args)],
        cwd=cwd,
        env={**subprocess_env(), **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return proc.returncode, proc.stdout, proc.stderr


def one_line(err: str) -> str:
    """stderr that must be exactly one error line (no traceback, no log noise)."""
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def head_revision() -> str:
    from mlflow.store.db.utils import _get_latest_schema_revision

    return _get_latest_schema_revision()


def schema_of(db: Path) -> tuple[str, set[str]]:
    with sqlite3.connect(db) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        (rev,) = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    return rev, tables


# ---------------------------------------------------------------- 1. first use of a store


def test_eight_commands_at_once_on_a_fresh_store_all_succeed(tmp_path):
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "unisim", "experiments", "new", f"e{i}"],
            cwd=tmp_path,
            env=subprocess_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(8)
    ]
    results = [(p.communicate(timeout=300), p.returncode) for p in procs]
    for (_, err), code in results:
        assert code == 0 and "Traceback" not in err, err[-3000:]
    db = tmp_path / "mlruns" / "mlflow.db"
    rev, tables = schema_of(db)
    assert rev == head_revision() and not [t for t in tables if t.startswith("_alembic_tmp")]
    with sqlite3.connect(db) as conn:
        names = {r[0] for r in conn.execute("SELECT name FROM experiments")}
    assert {n.split("-", 3)[-1] for n in names if n != "Default"} == {f"e{i}" for i in range(8)}
    assert sorted(p.name for p in db.parent.iterdir()) == ["mlflow.db"]  # no lock, no temp file


def test_an_interrupted_migration_is_completed(tmp_path, cli):
    """A store left by a migration killed half-way (old revision, alembic's temp copy of a
    table still there) is repaired and brought to head by the next command."""
    import sqlalchemy
    from alembic import command
    from mlflow.store.db.utils import _get_alembic_config

    db = tmp_path / "mlruns" / "mlflow.db"
    db.parent.mkdir()
    engine = sqlalchemy.create_engine(f"sqlite:///{db}")
    from mlflow.store.tracking.dbmodels.initial_models import Base as InitialBase

    InitialBase.metadata.create_all(engine)
    config = _get_alembic_config(f"sqlite:///{db}")
    with engine.begin() as conn:  # the revision just before a batch rebuild of experiments
        config.attributes["connection"] = conn
        command.upgrade(config, "c8d9e0f1a2b3")
    engine.dispose()
    with sqlite3.connect(db) as conn:  # what the killed batch operation left behind
        conn.execute("CREATE TABLE _alembic_tmp_experiments AS SELECT * FROM experiments")

    code, out, err = cli("experiments", "new", "after-crash")
    assert code == 0, err
    rev, tables = schema_of(db)
    assert rev == head_revision() and "_alembic_tmp_experiments" not in tables
    assert cli("runs", "list")[0] == 0


def test_read_only_commands_never_create_a_store(tmp_path, cli):
    uri = f"sqlite:///{tmp_path}/nowhere/dir/x.db"
    for args in (
        ("runs", "list"),
        ("registry", "list"),
        ("leaderboard",),
        ("runs", "show", "0" * 32),
    ):
        code, _, err = cli(*args, "--tracking-uri", uri)
        assert code == 2 and "no tracking store" in one_line(err), (args, err)
    assert not (tmp_path / "nowhere").exists()


def test_an_unknown_uri_scheme_is_one_line(tmp_path, cli):
    for args in (("runs", "list"), ("experiments", "list"), ("run", "x.yaml")):
        code, _, err = cli(*args, "--tracking-uri", "bogus://x")
        assert code == 2 and "unknown scheme 'bogus'" in one_line(err), (args, err)


def test_sync_of_an_unknown_run_is_an_error(store, cli):
    for run_id in ("0" * 32, "not-a-run"):
        code, _, err = cli("sync", "--run", run_id)
        assert code == 2 and "no such run, and no journal for it" in one_line(err)


# ---------------------------------------------------------------- 3. unreachable server


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def silent_server():
    """A socket that accepts connections (the kernel's backlog) and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    sock.close()


@pytest.mark.parametrize("kind", ["closed", "silent"])
def test_an_unreachable_server_is_one_line_and_bounded(tmp_path, silent_server, kind):
    uri = f"http://127.0.0.1:{closed_port()}" if kind == "closed" else silent_server
    config = tmp_path / "tiny.yaml"
    config.write_text("name: tiny\n")
    env = {"MLFLOW_TRACKING_URI": uri, "UNISIM_TRACKING_TIMEOUT_S": "4"}
    for args in (("runs", "list"), ("experiments", "list"), ("run", config)):
        started = time.monotonic()
        code, out, err = unisim(*args, cwd=tmp_path, env=env, timeout=120)
        took = time.monotonic() - started
        line = one_line(err)
        assert code == 4 and "did not answer within 4 s" in line, (args, err)
        assert uri in line and took < 40, (args, took)  # 4 s per request, not 250 s
