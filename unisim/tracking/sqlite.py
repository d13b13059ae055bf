"""First use of a SQLite store: created and migrated by one process, never left half-done.

    prepare_sqlite(Path("mlruns/mlflow.db"), artifact_root, create=True)   # configure() calls it
    prepare_sqlite(path, artifact_root, create=False)   # read-only commands: UnisimError if missing

MLflow creates and migrates a SQLite store inside whichever process opens it first,
without a lock: commands started together on a fresh store run the migrations
concurrently, and SQLite executes DDL outside transactions, so a race (or a kill)
can leave the schema at an old revision with alembic's ``_alembic_tmp_<table>``
copies lying around; from then on every command fails. Here:

- a lock beside the file (``mlflow.db.lock``) serialises creation and migration;
- a new store is built in a temporary file (schema at head, Default experiment)
  and renamed into place, so other processes see no store or a whole one;
- a store at an older revision, or with ``_alembic_tmp_*`` leftovers of an
  interrupted migration, is repaired and migrated on a copy that replaces the
  file only once it is at head; a store that holds no data and cannot be repaired
  is moved aside (``mlflow.db.broken-<time>``) and created again.

The check costs one SQLite query per process and path (the result is cached).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import time
from pathlib import Path

from unisim.errors import UnisimError

log = logging.getLogger(__name__)

TMP_PREFIX = "_alembic_tmp_"
_READY: set[Path] = set()  # stores checked at head by this process


def _connect(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=rw", uri=True, timeout=60)


def _tables(conn: sqlite3.Connection) -> set[str]:
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {r[0] for r in rows}


def _revision(conn: sqlite3.Connection, tables: set[str]) -> str | None:
    if "alembic_version" not in tables:
        return None
    row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    return row[0] if row else None


def _head() -> str:
    from mlflow.store.db.utils import _get_latest_schema_revision

    return _get_latest_schema_revision()


def _state(path: Path) -> tuple[str | None, set[str]]:
    """(alembic revision or None, table names) of an existing file."""
    with contextlib.closing(_connect(path)) as conn:
        tables = _tables(conn)
        return _revision(conn, tables), tables


def _missing(path: Path) -> bool:
    return not path.is_file() or path.stat().st_size == 0


def _ready(path: Path, head: str) -> bool:
    revision, tables = _state(path)
    return revision == head and not any(t.startswith(TMP_PREFIX) for t in tables)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _dispose(uri: str) -> None:
    """Close MLflow's cached engine for a temporary file (its path is about to change)."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    engine = SqlAlchemyStore._engine_map.pop(uri, None)
    if engine is not None:
        engine.dispose()


def _install(tmp: Path, path: Path) -> None:
    _fsync(tmp)
    os.replace(tmp, path)
    _fsync(path.parent)


def _create(path: Path, artifact_root: str | None) -> None:
    """A new store at head (tables and MLflow's Default experiment), renamed into place."""
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    tmp = path.with_name(f".{path.name}.creating-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    uri = f"sqlite:///{tmp}"
    try:
        SqlAlchemyStore(uri, artifact_root or (path.parent / "artifacts").as_uri())
        _dispose(uri)
        _install(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    log.info("created the MLflow store %s", path)


def _clear_leftovers(conn: sqlite3.Connection) -> list[str]:
    """Undo what an interrupted alembic batch operation left; returns what was done.

    A batch operation copies table X into ``_alembic_tmp_X``, drops X, renames the copy.
    With X still there the copy is waste; without X the copy is the only (complete) one.
    """
    done = []
    tables = _tables(conn)
    for tmp in sorted(t for t in tables if t.startswith(TMP_PREFIX)):
        base = tmp[len(TMP_PREFIX) :]
        if base in tables:
            conn.execute(f'DROP TABLE "{tmp}"')
            done.append(f"dropped {tmp}")
        else:
            conn.execute(f'ALTER TABLE "{tmp}" RENAME TO "{base}"')
            done.append(f"renamed {tmp} to {base}")
    conn.commit()
    return done


def _holds_data(path: Path) -> bool:
    """True when the store has runs, registered models, or experiments besides Default."""
    with contextlib.closing(_connect(path)) as conn:
        tables = _tables(conn)
        for table, where in (
            ("runs", ""),
            ("registered_models", ""),
            ("experiments", " WHERE experiment_id != 0"),  # 0: MLflow's Default
        ):
            count = f"SELECT COUNT(*) FROM {table}{where}"
            if table in tables and conn.execute(count).fetchone()[0]:
                return True
    return False


def _upgrade(path: Path, head: str, artifact_root: str | None) -> None:
    """Repair and migrate a copy; it replaces the store only once at head."""
    import sqlalchemy
    from mlflow.store.db.utils import _upgrade_db

    tmp = path.with_name(f".{path.name}.upgrading-{os.getpid()}")
    tmp.unlink(missing_ok=True)
    revision = _state(path)[0]
    try:
        with (
            contextlib.closing(_connect(path)) as src,
            contextlib.closing(sqlite3.connect(tmp)) as dst,
        ):
            src.backup(dst)  # a consistent copy, even if someone reads the store meanwhile
            repaired = _clear_leftovers(dst)
        engine = sqlalchemy.create_engine(f"sqlite:///{tmp}")
        try:
            _upgrade_db(engine)
        finally:
            engine.dispose()
        if _state(tmp)[0] != head:
            raise RuntimeError(f"still at revision {_state(tmp)[0]} after the upgrade")
        _install(tmp, path)
        what = f" ({', '.join(repaired)})" if repaired else ""
        log.warning("MLflow store %s migrated from revision %s to %s%s", path, revision, head, what)
    except Exception as exc:
        tmp.unlink(missing_ok=True)
        reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        if _holds_data(path):
            raise UnisimError(
                f"{path}: the MLflow schema is at revision {revision}, not {head}, and migrating "
                f"a copy failed ({reason}); the store is unchanged: back it up and run "
                f"`mlflow db upgrade sqlite:///{path}`"
            ) from None
        aside = path.with_name(f"{path.name}.broken-{time.strftime('%Y%m%d-%H%M%S')}")
        os.replace(path, aside)
        log.warning("%s: no data, could not be migrated (%s); moved to %s", path, reason, aside)
        _create(path, artifact_root)
    finally:
        tmp.unlink(missing_ok=True)


def prepare_sqlite(path: Path, artifact_root: str | None, *, create: bool) -> None:
    """Make the SQLite store at ``path`` ready for MLflow (see the module docstring).

    ``create=False`` (read-only commands): a missing store is a one-line UnisimError,
    and nothing is created, not even its folder.
    """
    from unisim.locks import LockTimeout, file_lock
    from unisim.settings import load_settings

    path = Path(path).absolute()
    if path in _READY:
        return
    if _missing(path) and not create:
        raise UnisimError(
            f"no tracking store at {path} (read-only commands never create one; "
            "check --tracking-uri, or run something first)"
        )
    try:
        if not _missing(path) and _ready(path, _head()):
            _READY.add(path)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        timeout = load_settings().lock_timeout_s
        with file_lock(path.with_name(f"{path.name}.lock"), timeout_s=timeout):
            head = _head()
            if _missing(path):
                _create(path, artifact_root)
            elif not _ready(path, head):
                _upgrade(path, head, artifact_root)
    except LockTimeout as exc:
        raise UnisimError(f"{exc} (creating or migrating the store)") from None
    except sqlite3.DatabaseError as exc:
        raise UnisimError(f"{path}: not a usable SQLite database ({exc})") from None
    _READY.add(path)
