"""Read-only SQL over MLflow's tables for the read commands (runs, registry, leaderboard).

    with open_reader(target) as db:          # None: not a database on a tested schema
        ids = db.newest_run_ids(["3"], kind="pipeline", limit=50)
        runs = db.runs(ids)                  # {run_id: RunView}: tags, params, latest metrics
        models = db.registry()               # RegistryView: models, versions, aliases, tags

The same contract as ``snapshot.py``: only SQLite (``sqlite3``, read-only, no SQLAlchemy,
no mlflow import) and PostgreSQL (SQLAlchemy) stores whose ``alembic_version`` is in
``snapshot.TESTED_SCHEMAS``; anything else (http servers, other schemas, MySQL) returns
None and the caller uses MLflow's API (``views.py``). A store that does not exist yet is
never created. Entities come back as ``RunView`` / ``VersionView`` (views.py), the
attribute shape of MLflow's own ``Run`` and ``ModelVersion``.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from unisim.tracking.schema import TAG_KIND
from unisim.tracking.snapshot import UnknownSchema, _check_schema
from unisim.tracking.store import SQLITE_PREFIX, TrackingTarget
from unisim.tracking.views import ModelView, RegistryView, RunView, VersionView

CHUNK = 500  # ids per IN (...) list
_RUN_COLS = "run_uuid, experiment_id, name, status, start_time, end_time, artifact_uri"


class SqlReader:
    """Queries over one read-only connection (``sqlite3`` or SQLAlchemy)."""

    def __init__(self, conn: Any, kind: str) -> None:
        self.conn, self.kind = conn, kind

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        if self.kind == "empty":  # no store file yet: nothing to read, nothing created
            return []
        if self.kind == "sqlite":
            return self.conn.execute(sql, tuple(params)).fetchall()
        from sqlalchemy import text

        names = {f"p{i}": v for i, v in enumerate(params)}
        for i in range(len(params)):
            sql = sql.replace("?", f":p{i}", 1)
        return [tuple(r) for r in self.conn.execute(text(sql), names).all()]

    def _in(self, sql: str, values: Sequence[Any], extra: Sequence[Any] = ()) -> list[tuple]:
        """``sql`` with ``IN ({})`` filled for each chunk of ``values``."""
        out: list[tuple] = []
        values = list(values)
        for i in range(0, len(values), CHUNK):
            part = values[i : i + CHUNK]
            out += self.rows(sql.format(", ".join("?" * len(part))), [*part, *extra])
        return out

    # ------------------------------------------------------------ experiments and runs
    def experiments(self) -> dict[str, str]:
        """Active experiments: id -> name."""
        rows = self.rows(
            "SELECT experiment_id, name FROM experiments WHERE lifecycle_stage = 'active'"
        )
        return {str(eid): name for eid, name in rows}

    def newest_run_ids(
        self, experiment_ids: Sequence[str] | None, *, kind: str | None = None, limit: int = 50
    ) -> list[str]:
        """Active runs, newest first, in these experiments (all when None)."""
        sql = "SELECT r.run_uuid FROM runs r"
        where, params = ["r.lifecycle_stage = 'active'"], []
        if kind:
            sql += ' JOIN tags t ON t.run_uuid = r.run_uuid AND t."key" = ? AND t.value = ?'
            params += [TAG_KIND, kind]
        if experiment_ids is not None:
            if not experiment_ids:
                return []
            where.append(f"r.experiment_id IN ({', '.join('?' * len(experiment_ids))})")
            params += [int(e) for e in experiment_ids]
        sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY r.start_time DESC, r.run_uuid LIMIT ?"
        return [r[0] for r in self.rows(sql, [*params, int(limit)])]

    def run_ids_with_tag(self, key: str, value: str) -> list[str]:
        """Active runs whose tag ``key`` is ``value`` (children by ``mlflow.parentRunId``...)."""
        rows = self.rows(
            "SELECT t.run_uuid FROM tags t JOIN runs r ON r.run_uuid = t.run_uuid "
            "WHERE t.\"key\" = ? AND t.value = ? AND r.lifecycle_stage = 'active'",
            [key, value],
        )
        return [r[0] for r in rows]

    def runs(
        self,
        run_ids: Sequence[str],
        param_keys: Sequence[str] | None = None,
        tag_keys: Sequence[str] | None = None,
    ) -> dict[str, RunView]:
        """Runs by id, with every latest metric value, and every param and tag (only
        ``param_keys`` / ``tag_keys`` when given: the leaderboard reads a few of each)."""
        ids = sorted(set(run_ids))
        if not ids:
            return {}
        base = self._in(f"SELECT {_RUN_COLS} FROM runs WHERE run_uuid IN ({{}})", ids)
        tags = self._key_values("tags", ids, tag_keys)
        params = self._key_values("params", ids, param_keys)
        metrics: dict[str, dict[str, float]] = {}
        for rid, key, value, is_nan in self._in(
            'SELECT run_uuid, "key", value, is_nan FROM latest_metrics WHERE run_uuid IN ({})', ids
        ):
            metrics.setdefault(rid, {})[key] = math.nan if is_nan else float(value)
        out = {}
        for rid, eid, name, status, start, end, artifact_uri in base:
            out[rid] = RunView.make(
                run_id=rid, experiment_id=str(eid), run_name=name or "", status=status,
                start_time=start, end_time=end, artifact_uri=artifact_uri,
                tags=tags.get(rid, {}), params=params.get(rid, {}), metrics=metrics.get(rid, {}),
            )  # fmt: skip
        return out

    def _key_values(
        self, table: str, ids: Sequence[str], keys: Sequence[str] | None
    ) -> dict[str, dict[str, str]]:
        """``{run id: {key: value}}`` of ``tags`` or ``params`` (only ``keys`` when given)."""
        sql = f'SELECT run_uuid, "key", value FROM {table} WHERE run_uuid IN ({{}})'
        wanted = list(keys or [])
        if keys is not None:
            sql += f' AND "key" IN ({", ".join("?" * len(wanted))})' if wanted else " AND 1 = 0"
        out: dict[str, dict[str, str]] = {}
        for rid, key, value in self._in(sql, ids, wanted):
            out.setdefault(rid, {})[key] = value
        return out

    def gated_pipeline_run_ids(self, statuses: Sequence[str]) -> list[str]:
        """Pipeline runs with ``unisim.gates_passed=true`` in these MLflow states."""
        from unisim.tracking.schema import TAG_GATES_PASSED, Kind

        sql = (
            "SELECT r.run_uuid FROM runs r "
            'JOIN tags k ON k.run_uuid = r.run_uuid AND k."key" = ? AND k.value = ? '
            'JOIN tags g ON g.run_uuid = r.run_uuid AND g."key" = ? AND g.value = ? '
            "JOIN experiments e ON e.experiment_id = r.experiment_id "
            "WHERE r.lifecycle_stage = 'active' AND e.lifecycle_stage = 'active' "
            f"AND r.status IN ({', '.join('?' * len(statuses))})"
        )
        params = [TAG_KIND, Kind.PIPELINE.value, TAG_GATES_PASSED, "true", *statuses]
        return [r[0] for r in self.rows(sql, params)]

    # ------------------------------------------------------------ the registry
    def registry(self) -> RegistryView:
        """Every registered model with its tags and aliases, every version with its tags."""
        models: dict[str, ModelView] = {}
        for name, description in self.rows("SELECT name, description FROM registered_models"):
            models[name] = ModelView(name, description, {}, {})
        for name, key, value in self.rows('SELECT name, "key", value FROM registered_model_tags'):
            if name in models:
                models[name].tags[key] = value
        for name, alias, version in self.rows(
            "SELECT name, alias, version FROM registered_model_aliases"
        ):
            if name in models:
                models[name].aliases[alias] = str(version)
        vtags: dict[tuple[str, str], dict[str, str]] = {}
        for name, version, key, value in self.rows(
            'SELECT name, version, "key", value FROM model_version_tags'
        ):
            vtags.setdefault((name, str(version)), {})[key] = value
        versions = []
        for name, version, stage, source, run_id, description, created, status in self.rows(
            "SELECT name, version, current_stage, source, run_id, description, creation_time, "
            "status FROM model_versions"
        ):
            if status == "DELETED_INTERNAL":
                continue
            versions.append(
                VersionView(
                    name=name,
                    version=str(version),
                    current_stage=stage,
                    source=source,
                    run_id=run_id,
                    description=description,
                    creation_timestamp=created,
                    tags=vtags.get((name, str(version)), {}),
                )  # fmt: skip
            )
        versions.sort(key=lambda v: (v.name, int(v.version)))
        return RegistryView(models, versions)


def _is_sql_store(uri: str) -> str | None:
    scheme = uri.split(":", 1)[0].split("+", 1)[0]
    if scheme == "sqlite":
        return "sqlite"
    if scheme in ("postgresql", "postgres"):
        return "postgresql"
    return None  # http(s): the server; mysql/mssql: quoting not covered here -> API


@contextlib.contextmanager
def open_reader(target: TrackingTarget) -> Iterator[SqlReader | None]:
    """A reader on the store's tables, or None when the API must be used instead."""
    kind = _is_sql_store(target.uri)
    if kind == "sqlite":
        if not target.uri.startswith(SQLITE_PREFIX):
            yield None
            return
        path = target.uri[len(SQLITE_PREFIX) :]
        if not Path(path).is_file():
            if target.read_only:  # the same one line as the API path (tracking/sqlite.py)
                from unisim.tracking.sqlite import prepare_sqlite

                prepare_sqlite(Path(path), None, create=False)
            yield SqlReader(None, "empty")
            return
        import sqlite3

        try:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            _check_schema(conn.execute("SELECT version_num FROM alembic_version").fetchall())
        except (sqlite3.Error, UnknownSchema):
            yield None
            return
        try:
            yield SqlReader(conn, "sqlite")
        finally:
            conn.close()
    elif kind == "postgresql":
        from sqlalchemy import create_engine, text
        from sqlalchemy.exc import SQLAlchemyError
        from sqlalchemy.pool import NullPool

        engine = create_engine(target.uri, poolclass=NullPool)
        try:
            with engine.connect() as conn:
                try:
                    _check_schema(
                        list(conn.execute(text("SELECT version_num FROM alembic_version")))
                    )
                except (SQLAlchemyError, UnknownSchema):
                    yield None
                    return
                yield SqlReader(conn, "postgresql")
        finally:
            engine.dispose()
    else:
        yield None
