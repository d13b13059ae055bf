"""Fixtures for tests against a real ``mlflow server`` (a pytest plugin module).

    from server_fixtures import pg_server, server_tracking   # in a test module, or
    pytest_plugins = ["server_fixtures"]                      # in tests/conftest.py (shared)

``pg_database``: a fresh PostgreSQL database ``unisim_test_<hex>`` on 127.0.0.1:5432
(trust auth, user postgres), dropped at the end of the session. When PostgreSQL is
down the tests skip, except with ``CI=true``, where they fail.
``pg_server``: a session-wide MLflow server on that database (artifacts proxied into a
tmp folder), started and stopped with ``unisim.server`` exactly as ``unisim server start``
does. ``server_tracking``: points MLFLOW_TRACKING_URI at it for one test.
``ServerHandle`` starts, stops and restarts a server on a fixed port (outage tests).
"""

from __future__ import annotations

import os
import secrets
import socket
from pathlib import Path

import pytest

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def require_postgres() -> None:
    """Skip without PostgreSQL, but fail under CI=true (CI must run these tests)."""
    import psycopg

    try:
        with psycopg.connect(PG_ADMIN, connect_timeout=5):
            pass
    except psycopg.OperationalError as exc:
        reason = f"PostgreSQL at 127.0.0.1:5432 (database test) unreachable: {exc}".strip()
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason} (CI=true: server tests must run)", pytrace=False)
        pytest.skip(reason)


class ServerHandle:
    """An mlflow server run by ``unisim.server`` on a fixed port; can go down and up again."""

    def __init__(self, backend_uri: str, tmp: Path, *, auth: bool = False, workers: int = 1):
        from unisim.server import ServerSettings

        self.settings = ServerSettings(
            profile="test",
            backend_store_uri=backend_uri,
            artifacts_destination=str(tmp / "artifacts"),
            port=free_port(),
            workers=workers,
            auth=auth,
            state_dir=str(tmp / "state"),
        )
        self.started = 0

    @property
    def uri(self) -> str:
        return self.settings.url

    def start(self) -> None:
        from unisim.server import start_server

        start_server(self.settings, upgrade=self.started == 0)  # migrate once
        self.started += 1

    @property
    def running(self) -> bool:
        from unisim.server import server_status

        return server_status(self.settings.state_path)["running"]

    def ensure_running(self) -> None:
        """Start it again if a test left it down."""
        if not self.running:
            self.start()

    def stop(self) -> dict:
        from unisim.server import stop_server

        return stop_server(self.settings.state_path)

    @property
    def log_text(self) -> str:
        path = self.settings.log_path
        return path.read_text(errors="replace") if path.exists() else ""


@pytest.fixture(scope="session")
def pg_database():
    """SQLAlchemy URI of a fresh PostgreSQL database, dropped after the session."""
    require_postgres()
    import psycopg

    name = f"unisim_test_{secrets.token_hex(4)}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_server(pg_database, tmp_path_factory):
    """A session-wide MLflow server on PostgreSQL; yields its ServerHandle."""
    handle = ServerHandle(pg_database, tmp_path_factory.mktemp("pg-server"))
    handle.start()
    yield handle
    handle.stop()


@pytest.fixture
def server_tracking(pg_server, monkeypatch):
    """MLFLOW_TRACKING_URI -> the PostgreSQL-backed server; returns its TrackingTarget."""
    from unisim.tracking import TrackingTarget

    monkeypatch.setenv("MLFLOW_TRACKING_URI", pg_server.uri)
    return TrackingTarget(uri=pg_server.uri, source="env")
