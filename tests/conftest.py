"""Shared fixtures: every test runs in its own folder against its own SQLite store.

``cli(*args)`` runs the CLI in process and returns (exit_code, stdout, stderr).
``store`` is a TrackingTarget on a tmp SQLite file; MLFLOW_TRACKING_URI points at it.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
# Tiny tensors: one thread is faster than two, and test processes do not fight for cores.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    """Run in a tmp folder with no tracking settings leaking in from the environment."""
    for var in (
        "MLFLOW_TRACKING_URI",
        "MLFLOW_REGISTRY_URI",
        "UNISIM_PROFILE",
        "UNISIM_CONFIG_DIR",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("MLFLOW_ENABLE_ASYNC_LOGGING", "false")
    monkeypatch.setenv("GIT_PYTHON_REFRESH", "quiet")
    monkeypatch.chdir(tmp_path)
    yield


@pytest.fixture(scope="session")
def _template_db(tmp_path_factory) -> Path:
    """An empty, fully migrated MLflow SQLite database, made once per session.

    Creating the schema runs every alembic migration (seconds); copying the file
    gives each test a fresh store for the price of a file copy.
    """
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    folder = tmp_path_factory.mktemp("template-store")
    db = folder / "mlflow.db"
    store = SqlAlchemyStore(f"sqlite:///{db}", (folder / "artifacts").as_uri())
    store.engine.dispose()
    return db


@pytest.fixture
def store(tmp_path, monkeypatch, _template_db):
    """A fresh SQLite MLflow store; also exported as MLFLOW_TRACKING_URI for subprocesses."""
    import shutil

    from unisim.tracking import TrackingTarget

    db = tmp_path / "store" / "mlflow.db"
    db.parent.mkdir()
    shutil.copyfile(_template_db, db)
    target = TrackingTarget(
        uri=f"sqlite:///{db}", artifact_root=(tmp_path / "store" / "artifacts").as_uri()
    )
    monkeypatch.setenv("MLFLOW_TRACKING_URI", target.uri)
    yield target
    import mlflow

    while mlflow.active_run() is not None:
        mlflow.end_run()


@pytest.fixture
def client(store):
    from unisim.tracking import configure

    return configure(store)


@pytest.fixture
def cli(capsys):
    """Run ``unisim ARGS...`` in process: returns (exit_code, stdout, stderr)."""
    from unisim.cli import main

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main([str(a) for a in args])
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


@pytest.fixture
def repo() -> Path:
    return REPO


def subprocess_env() -> dict[str, str]:
    """Environment for ``unisim`` subprocesses: the repo importable, quiet git."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return env
