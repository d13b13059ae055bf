"""A read-only snapshot of a store: experiments and the few run columns the lifecycle needs.

    snap = read_store(target)                 # via="auto" | "sql" | "api"
    snap.experiments["2026-11-29-x"].tags     # ExperimentRecord
    snap.rows[experiment_id]                  # [RunRow(run_id, state, start_ms, end_ms, tags, ...)]

MLflow's ``search_runs`` builds a full Run (every param, tag and metric) per run,
several ms a run, so 10,000 runs take tens of seconds. For database stores
(sqlite, postgresql, mysql) the snapshot reads the few columns it needs straight
from MLflow's tables in one read-only pass (experiments, experiment_tags, runs,
tags for five keys, latest_metrics for final_nrmse); for SQLite it imports
neither mlflow nor SQLAlchemy and never creates a store. That path reads MLflow's
private schema, so it is taken only when the store's schema revision is one it is
tested against (``TESTED_SCHEMAS``, read from ``alembic_version``); other schemas,
http servers, or tables this code does not recognise use the API, loading only
pipeline and running runs (plus the newest run of an experiment that has neither).
The tests check that both paths agree.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from unisim.tracking.client import Store
from unisim.tracking.queries import NEWEST_FIRST, tag_is
from unisim.tracking.schema import (
    FINAL_NRMSE,
    TAG_FINAL_STATUS,
    TAG_GATES_PASSED,
    TAG_KIND,
    TAG_MODEL_VERSION,
    TAG_STATUS,
    Kind,
)
from unisim.tracking.store import TrackingTarget

log = logging.getLogger(__name__)

RUN_TAGS = (TAG_KIND, TAG_STATUS, TAG_GATES_PASSED, TAG_MODEL_VERSION, TAG_FINAL_STATUS)
# MLflow schema revisions (alembic heads) whose tables the SQL path is tested on; a store
# migrated by another MLflow is read through the API instead.
TESTED_SCHEMAS = {"dc11669786a5": "MLflow 3.17"}
_DB_SCHEMES = ("sqlite", "postgresql", "postgres", "mysql", "mssql")


@dataclass(frozen=True)
class RunRow:
    """The columns of one run that status needs (times in epoch ms)."""

    run_id: str
    experiment_id: str
    state: str  # RUNNING | SCHEDULED | FINISHED | FAILED | KILLED
    start_ms: int | None
    end_ms: int | None
    tags: dict[str, str] = field(default_factory=dict)
    final_nrmse: float | None = None

    @property
    def kind(self) -> str | None:
        return self.tags.get(TAG_KIND)

    @property
    def running(self) -> bool:
        return self.state in ("RUNNING", "SCHEDULED")

    @property
    def last_ms(self) -> int:
        return max(self.start_ms or 0, self.end_ms or 0)


@dataclass(frozen=True)
class ExperimentRecord:
    experiment_id: str
    name: str
    tags: dict[str, str]
    creation_ms: int | None


@dataclass
class Snapshot:
    """Experiments by name and run rows by experiment id, and how they were read."""

    experiments: dict[str, ExperimentRecord]
    rows: dict[str, list[RunRow]]
    via: str  # sql | api | none


# ---------------------------------------------------------------- reading the store


def _is_database(uri: str) -> bool:
    return uri.split(":", 1)[0].split("+", 1)[0] in _DB_SCHEMES


def _nrmse(value: Any, is_nan: Any = False) -> float | None:
    if value is None or bool(is_nan):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


# The five reads: (table, columns, (where column, value or tuple of values) or None).
_READS: tuple[tuple[str, tuple[str, ...], tuple[str, Any] | None], ...] = (
    ("experiments", ("experiment_id", "name", "creation_time"), ("lifecycle_stage", "active")),
    ("experiment_tags", ("experiment_id", "key", "value"), None),
    ("runs", ("run_uuid", "experiment_id", "status", "start_time", "end_time"),
     ("lifecycle_stage", "active")),
    ("tags", ("run_uuid", "key", "value"), ("key", RUN_TAGS)),
    ("latest_metrics", ("run_uuid", "value", "is_nan"), ("key", FINAL_NRMSE)),
)  # fmt: skip


class UnknownSchema(Exception):
    """The store's tables are from an MLflow schema the SQL path is not tested on."""


def _check_schema(rows: list[Any]) -> None:
    revisions = {str(r[0]) for r in rows}
    if not revisions & set(TESTED_SCHEMAS):
        raise UnknownSchema(f"schema revision {', '.join(sorted(revisions)) or 'none'}")


def _fetch_sqlite(path: str) -> list[list[Any]]:
    """The reads over a read-only sqlite3 connection (no SQLAlchemy import: ~0.5 s saved)."""
    import sqlite3

    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        _check_schema(conn.execute("SELECT version_num FROM alembic_version").fetchall())
        out = []
        for name, cols, where in _READS:
            sql = (
                "SELECT " + ", ".join(f'"{c}"' for c in cols) + f' FROM "{name}"'
            )  # "key" is reserved
            params: tuple[Any, ...] = ()
            if where is not None:
                col, value = where
                params = value if isinstance(value, tuple) else (value,)
                sql += f' WHERE "{col}" IN ({", ".join("?" * len(params))})'
            out.append(conn.execute(sql, params).fetchall())
        return out
    finally:
        conn.close()


def _fetch_sqlalchemy(uri: str) -> list[list[Any]]:
    """The same reads on any other SQL store, quoted by SQLAlchemy for its dialect."""
    from sqlalchemy import column, create_engine, select, table
    from sqlalchemy.pool import NullPool

    engine = create_engine(uri, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            alembic = table("alembic_version", column("version_num"))
            _check_schema(list(conn.execute(select(alembic.c.version_num)).all()))
            out = []
            for name, cols, where in _READS:
                extra = (where[0],) if where is not None and where[0] not in cols else ()
                tbl = table(name, *(column(c) for c in (*cols, *extra)))
                query = select(*(tbl.c[c] for c in cols))
                if where is not None:
                    values = where[1] if isinstance(where[1], tuple) else (where[1],)
                    query = query.where(tbl.c[where[0]].in_(values))
                out.append(list(conn.execute(query).all()))
            return out
    finally:
        engine.dispose()


def _read_sql(uri: str) -> Snapshot:
    """One read-only pass over MLflow's tables; no mlflow import, nothing created."""
    if uri.startswith("sqlite:///"):
        path = uri[len("sqlite:///") :]
        if not Path(path).is_file():
            return Snapshot({}, {}, "none")  # no store yet: nothing to read
        exp_rows, etag_rows, run_rows, tag_rows, metric_rows = _fetch_sqlite(path)
    else:
        exp_rows, etag_rows, run_rows, tag_rows, metric_rows = _fetch_sqlalchemy(uri)
    exp_tags: dict[str, dict[str, str]] = {}
    for eid, key, value in etag_rows:
        exp_tags.setdefault(str(eid), {})[key] = value
    experiments = {
        name: ExperimentRecord(str(eid), name, exp_tags.get(str(eid), {}), created)
        for eid, name, created in exp_rows
    }
    run_tags: dict[str, dict[str, str]] = {}
    for rid, key, value in tag_rows:
        run_tags.setdefault(rid, {})[key] = value
    nrmse = {rid: _nrmse(value, is_nan) for rid, value, is_nan in metric_rows}
    rows: dict[str, list[RunRow]] = {}
    for rid, eid, state, start, end in run_rows:
        row = RunRow(rid, str(eid), state, start, end, run_tags.get(rid, {}), nrmse.get(rid))
        rows.setdefault(str(eid), []).append(row)
    return Snapshot(experiments, rows, "sql")


def row_of(run: Any) -> RunRow:
    """A RunRow from an ``mlflow.entities.Run``."""
    tags = {k: v for k, v in run.data.tags.items() if k in RUN_TAGS}
    info = run.info
    nrmse = _nrmse(run.data.metrics.get(FINAL_NRMSE))
    return RunRow(
        info.run_id, info.experiment_id, info.status, info.start_time, info.end_time, tags, nrmse
    )


def _read_api(target: TrackingTarget) -> Snapshot:
    """Fallback through MlflowClient, loading as few runs as the rules need.

    Pipeline runs (count, best, newest finished) and RUNNING/SCHEDULED runs, in a
    few paged searches over all experiments; then, only for an experiment with
    neither, its newest run of any kind (activity decides active/idle/stale there).
    """
    store = Store(target)
    experiments = {
        exp.name: ExperimentRecord(exp.experiment_id, exp.name, dict(exp.tags), exp.creation_time)
        for exp in store.active_experiments()
    }
    ids = [e.experiment_id for e in experiments.values()]
    seen: dict[str, RunRow] = {}
    for flt in (
        tag_is(TAG_KIND, Kind.PIPELINE),
        "attributes.status = 'RUNNING'",
        "attributes.status = 'SCHEDULED'",
    ):
        for run in store.iter_runs(ids, flt):
            seen[run.info.run_id] = row_of(run)
    rows: dict[str, list[RunRow]] = {}
    for row in seen.values():
        rows.setdefault(row.experiment_id, []).append(row)
    for eid in ids:
        decided = any(r.running or r.kind == "pipeline" for r in rows.get(eid, []))
        if not decided:
            newest = store.iter_runs([eid], max_results=1, order_by=NEWEST_FIRST)
            rows.setdefault(eid, []).extend(row_of(r) for r in newest)
    return Snapshot(experiments, {k: v for k, v in rows.items() if v}, "api")


def read_store(target: TrackingTarget, *, via: str = "auto") -> Snapshot:
    """Experiments and run rows of the store: ``via`` = auto | sql | api.

    ``auto`` takes the SQL path for database stores whose schema revision is tested and
    falls back to the API otherwise; ``sql`` insists (tests).
    """
    if via in ("auto", "sql") and _is_database(target.uri):
        try:
            return _read_sql(target.uri)
        except UnknownSchema as exc:
            if via == "sql":
                raise
            log.info("%s: %s is not a tested schema; using MLflow's API", target.uri, exc)
        except Exception as exc:  # sqlite3.Error / SQLAlchemyError: tables we do not know
            if via == "sql":
                raise
            log.warning("reading MLflow's tables failed (%s); using MLflow's API", exc)
    return _read_api(target)
