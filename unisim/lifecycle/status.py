"""Lifecycle status of every experiment, read from its MLflow runs (files only when it has none).

    for s in list_experiments(resolve_tracking()):
        print(s.name, s.status, s.runs, s.best_nrmse, s.model_version)
    list_experiments(target, now=datetime(2026, 12, 1, tzinfo=timezone.utc),
                     settings=StatusSettings(active_days=7, stale_days=30))

Rules (../shared/DESIGN.md); the first that matches wins:

    archived  the folder is in experiments-archive/ (else: experiment tag unisim.status=archived)
    active    a run is RUNNING (or SCHEDULED)
    promoted  a run carries unisim.model_version or unisim.status=promoted
    success   the newest finished pipeline run has unisim.gates_passed=true
    failed    the newest finished pipeline run FAILED / was KILLED / has gates_passed!=true
    active    no finished pipeline run, and activity within ``active_days`` (7)
    stale     no finished pipeline run, and no activity for ``stale_days`` (30)
    idle      no finished pipeline run, last activity between the two thresholds

Activity is the newest run start/end. An experiment with no runs at all takes its
result and activity from its folder instead (report.json ``gates_passed``, ✓/✗ in
notes.md, file mtimes), as the seed's archive_experiments.py did.

Query design: MLflow's ``search_runs`` builds a full Run (every param, tag and
metric) per run, several ms a run here, so 10,000 runs take tens of seconds. For
database stores (sqlite, postgresql, mysql) the listing reads the few columns it
needs straight from MLflow's tables in one read-only pass (experiments,
experiment_tags, runs, tags for five keys, latest_metrics for final_nrmse); for
SQLite it imports neither mlflow nor SQLAlchemy and never creates a store. Other
stores (an http server), or tables this code does not recognise, fall back to
MlflowClient searches that load only pipeline runs and running runs (plus the
newest run of an experiment that has neither); the tests check both paths agree.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from unisim import tracking as T
from unisim.errors import UnisimError
from unisim.lifecycle.experiments import ARCHIVE_DIR, Folder, file_signals, list_folders

log = logging.getLogger(__name__)

ACTIVE, IDLE, SUCCESS, FAILED, STALE = "active", "idle", "success", "failed", "stale"
PROMOTED, ARCHIVED = T.STATUS_PROMOTED, T.STATUS_ARCHIVED
STATUSES = (ACTIVE, IDLE, SUCCESS, FAILED, STALE, PROMOTED, ARCHIVED)
RUN_TAGS = (T.TAG_KIND, T.TAG_STATUS, T.TAG_GATES_PASSED, T.TAG_MODEL_VERSION, T.TAG_FINAL_STATUS)
_DB_SCHEMES = ("sqlite", "postgresql", "postgres", "mysql", "mssql")


@dataclass(frozen=True)
class StatusSettings:
    """Thresholds of the status rules, in days (env: UNISIM_ACTIVE_DAYS, UNISIM_STALE_DAYS)."""

    active_days: float = 7.0
    stale_days: float = 30.0

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> StatusSettings:
        env = os.environ if environ is None else environ
        try:
            active = float(env.get("UNISIM_ACTIVE_DAYS", cls.active_days))
            stale = float(env.get("UNISIM_STALE_DAYS", cls.stale_days))
        except ValueError as exc:
            raise UnisimError(f"UNISIM_ACTIVE_DAYS / UNISIM_STALE_DAYS: {exc}") from None
        if not 0 < active <= stale:
            raise UnisimError(f"status thresholds: need 0 < active ({active}) <= stale ({stale})")
        return cls(active, stale)


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
        return self.tags.get(T.TAG_KIND)

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


@dataclass
class ExperimentSummary:
    name: str
    status: str
    reason: str
    folder: str | None  # repo-relative; None when the experiment is only in MLflow
    experiment_id: str | None
    runs: int  # pipeline runs
    best_nrmse: float | None
    best_run: str | None
    last_activity: datetime | None
    model_version: str | None
    source: str  # mlflow | files
    running: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["last_activity"] = self.last_activity.isoformat() if self.last_activity else None
        return data


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
    ("latest_metrics", ("run_uuid", "value", "is_nan"), ("key", "final_nrmse")),
)  # fmt: skip


def _fetch_sqlite(path: str) -> list[list[Any]]:
    """The reads over a read-only sqlite3 connection (no SQLAlchemy import: ~0.5 s saved)."""
    import sqlite3

    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
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
    nrmse = _nrmse(run.data.metrics.get("final_nrmse"))
    return RunRow(
        info.run_id, info.experiment_id, info.status, info.start_time, info.end_time, tags, nrmse
    )


def search_all(client: Any, ids: list[str], filter_string: str = "") -> Iterable[Any]:
    """Every run matching ``filter_string`` in ``ids``, page by page (no pandas)."""
    for i in range(0, len(ids), 100):
        token = None
        while True:
            page = client.search_runs(
                ids[i : i + 100], filter_string, max_results=1000, page_token=token
            )
            yield from page
            token = page.token
            if not token:
                break


def _read_api(target: T.TrackingTarget) -> Snapshot:
    """Fallback through MlflowClient, loading as few runs as the rules need.

    Pipeline runs (count, best, newest finished) and RUNNING/SCHEDULED runs, in a
    few paged searches over all experiments; then, only for an experiment with
    neither, its newest run of any kind (activity decides active/idle/stale there).
    """
    from mlflow.entities import ViewType

    client = T.configure(target)
    experiments: dict[str, ExperimentRecord] = {}
    token = None
    while True:
        page = client.search_experiments(
            view_type=ViewType.ACTIVE_ONLY, max_results=1000, page_token=token
        )
        for exp in page:
            experiments[exp.name] = ExperimentRecord(
                exp.experiment_id, exp.name, dict(exp.tags), exp.creation_time
            )
        token = page.token
        if not token:
            break
    ids = [e.experiment_id for e in experiments.values()]
    seen: dict[str, RunRow] = {}
    for flt in (
        f"tags.`{T.TAG_KIND}` = 'pipeline'",
        "attributes.status = 'RUNNING'",
        "attributes.status = 'SCHEDULED'",
    ):
        for run in search_all(client, ids, flt):
            seen[run.info.run_id] = row_of(run)
    rows: dict[str, list[RunRow]] = {}
    for row in seen.values():
        rows.setdefault(row.experiment_id, []).append(row)
    for eid in ids:
        decided = any(r.running or r.kind == "pipeline" for r in rows.get(eid, []))
        if not decided:
            newest = client.search_runs(
                [eid], max_results=1, order_by=["attributes.start_time DESC"]
            )
            rows.setdefault(eid, []).extend(row_of(r) for r in newest)
    return Snapshot(experiments, {k: v for k, v in rows.items() if v}, "api")


def read_store(target: T.TrackingTarget, *, via: str = "auto") -> Snapshot:
    """Experiments and run rows of the store: ``via`` = auto | sql | api."""
    if via in ("auto", "sql") and _is_database(target.uri):
        try:
            return _read_sql(target.uri)
        except Exception as exc:  # sqlite3.Error / SQLAlchemyError: tables we do not know
            if via == "sql":
                raise
            log.warning("reading MLflow's tables failed (%s); using MLflow's API", exc)
    return _read_api(target)


# ---------------------------------------------------------------- rules


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _dt(ms: float | None) -> datetime | None:
    return datetime.fromtimestamp(ms / 1000, timezone.utc) if ms else None


def summarize(
    name: str,
    *,
    record: ExperimentRecord | None,
    rows: list[RunRow],
    folder: Folder | None,
    now: datetime,
    settings: StatusSettings,
) -> ExperimentSummary:
    """Apply the status rules to one experiment (pure: no I/O beyond the folder's files)."""
    pipelines = [r for r in rows if r.kind == "pipeline"]
    scored = [r for r in pipelines if r.final_nrmse is not None]
    best = min(scored, key=lambda r: r.final_nrmse) if scored else None
    promoted = [r for r in rows if r.tags.get(T.TAG_MODEL_VERSION)] or [
        r for r in rows if r.tags.get(T.TAG_STATUS) == PROMOTED
    ]
    promoted.sort(key=lambda r: r.last_ms)
    version = promoted[-1].tags.get(T.TAG_MODEL_VERSION) if promoted else None
    last_ms = max((r.last_ms for r in rows), default=0) or None
    exp_tags = record.tags if record else {}
    created = record.creation_ms if record else None
    summary = ExperimentSummary(
        name=name,
        status="",
        reason="",
        folder=folder.rel if folder else exp_tags.get(T.TAG_EXPERIMENT_DIR),
        experiment_id=record.experiment_id if record else None,
        runs=len(pipelines),
        best_nrmse=best.final_nrmse if best else None,
        best_run=best.run_id if best else None,
        last_activity=_dt(last_ms),
        model_version=version,
        source="mlflow",
        running=[r.run_id for r in rows if r.running],
    )
    status, reason = _classify(
        summary, rows, pipelines, promoted, folder, exp_tags, created, now, settings
    )
    summary.status, summary.reason = status, reason
    return summary


def _classify(
    s: ExperimentSummary,
    rows: list[RunRow],
    pipelines: list[RunRow],
    promoted: list[RunRow],
    folder: Folder | None,
    exp_tags: dict[str, str],
    created_ms: int | None,
    now: datetime,
    settings: StatusSettings,
) -> tuple[str, str]:
    archived = folder.archived if folder else exp_tags.get(T.TAG_STATUS) == ARCHIVED
    if archived:
        before = exp_tags.get(T.TAG_FINAL_STATUS)
        return ARCHIVED, f"in experiments-archive/ (was {before})" if before else "archived"
    if s.running:
        return ACTIVE, f"run {s.running[0]} is running"
    if promoted:
        return PROMOTED, f"run {promoted[-1].run_id} promoted (model version {s.model_version})"
    finished = [r for r in pipelines if not r.running]
    if finished:
        newest = max(finished, key=lambda r: r.end_ms or r.start_ms or 0)
        gates = newest.tags.get(T.TAG_GATES_PASSED)
        if newest.state == "FINISHED" and gates == "true":
            return SUCCESS, f"newest pipeline run {newest.run_id} passed its gates"
        why = "gates failed" if gates == "false" else newest.state.lower()
        if newest.state == "FINISHED" and gates is None:
            why = "finished without unisim.gates_passed"
        return FAILED, f"newest pipeline run {newest.run_id}: {why}"
    if rows:
        last = s.last_activity
        what = "no finished pipeline run"
    else:
        s.source = "files"
        signals = file_signals(folder.path) if folder else None
        if signals is not None and signals.result:
            if s.best_nrmse is None:
                s.best_nrmse = signals.final_nrmse
            s.last_activity = _dt((signals.last_modified or 0) * 1000)
            return signals.result, f"no runs; {signals.why}"
        # A folder's newest file, else (MLflow-only, no runs) the experiment's creation.
        last = _dt((signals.last_modified or 0) * 1000) if signals else _dt(created_ms)
        s.last_activity = last
        what = "no runs"
    if last is None:
        return STALE, f"{what}, no recorded activity"
    age_days = (now - last).total_seconds() / 86_400
    if age_days <= settings.active_days:
        return ACTIVE, f"{what}; activity {age_days:.1f} days ago"
    if age_days >= settings.stale_days:
        return STALE, f"{what}; no activity for {age_days:.0f} days"
    return IDLE, f"{what}; quiet for {age_days:.0f} days"


# ---------------------------------------------------------------- listing


def list_experiments(
    target: T.TrackingTarget | None = None,
    *,
    root: Path | None = None,
    now: datetime | None = None,
    settings: StatusSettings | None = None,
    include_archived: bool = True,
    via: str = "auto",
) -> list[ExperimentSummary]:
    """Every experiment: folders under experiments/ and experiments-archive/, plus MLflow
    experiments tagged ``unisim.experiment_dir`` whose folder is not in this checkout."""
    target = target or T.resolve_tracking()
    settings = settings or StatusSettings.from_env()
    now = now or utcnow()
    snap = read_store(target, via=via)
    journals = (root or Path.cwd()) / ARCHIVE_DIR / ".journal"
    for journal in sorted(journals.glob("*.json")) if journals.is_dir() else []:
        log.warning(
            "an archive/restore of %s was interrupted; `unisim experiments archive` finishes it",
            journal.stem,
        )
    folders: dict[str, Folder] = {}
    for folder in list_folders(root):
        if folder.name not in folders or not folder.archived:  # a live folder wins
            folders[folder.name] = folder
    names = set(folders)
    names |= {n for n, rec in snap.experiments.items() if T.TAG_EXPERIMENT_DIR in rec.tags}
    out = []
    for name in sorted(names):
        record = snap.experiments.get(name)
        rows = snap.rows.get(record.experiment_id, []) if record else []
        summary = summarize(
            name, record=record, rows=rows, folder=folders.get(name), now=now, settings=settings
        )
        if include_archived or summary.status != ARCHIVED:
            out.append(summary)
    return out


def group_by_status(summaries: Iterable[ExperimentSummary]) -> dict[str, list[str]]:
    """``{status: [names]}`` in STATUSES order (empty statuses included)."""
    groups: dict[str, list[str]] = {s: [] for s in STATUSES}
    for summary in summaries:
        groups.setdefault(summary.status, []).append(summary.name)
    return groups
