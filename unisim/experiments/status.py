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

The runs come from ``unisim.tracking.snapshot.read_store``: one read-only pass over
MLflow's tables for database stores on a tested schema (no mlflow import, no store
created), MLflow's API otherwise. This module holds the rules only.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from unisim import tracking as T
from unisim.errors import UnisimError
from unisim.experiments.folders import ARCHIVE_DIR, Folder, file_signals, list_folders
from unisim.tracking.snapshot import ExperimentRecord, RunRow, read_store

log = logging.getLogger(__name__)

ACTIVE, IDLE, SUCCESS, FAILED, STALE = "active", "idle", "success", "failed", "stale"
PROMOTED, ARCHIVED = T.STATUS_PROMOTED, T.STATUS_ARCHIVED
STATUSES = (ACTIVE, IDLE, SUCCESS, FAILED, STALE, PROMOTED, ARCHIVED)


@dataclass(frozen=True)
class StatusSettings:
    """Thresholds of the status rules, in days (env: UNISIM_ACTIVE_DAYS, UNISIM_STALE_DAYS)."""

    active_days: float = 7.0
    stale_days: float = 30.0

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> StatusSettings:
        """UNISIM_ACTIVE_DAYS / UNISIM_STALE_DAYS (``unisim.settings``)."""
        from unisim.settings import load_settings

        settings = load_settings(environ)
        return cls(settings.active_days, settings.stale_days)


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
    """Every experiment of the store, plus, for a local store, the folders under
    experiments/ and experiments-archive/ that have no MLflow experiment yet.

    MLflow experiments without a folder (``tracking.experiment`` of a config in
    ``configs/``, e.g. ``burgers-golden`` after ``make run``) are listed too; MLflow's
    empty ``Default`` experiment is not. A server store (``--profile team``) lists the
    server's experiments: a local folder appears only when the server has its experiment.
    """
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
    names = {
        n
        for n, rec in snap.experiments.items()
        if not (n == "Default" and not snap.rows.get(rec.experiment_id))
    }
    if target.is_local:  # folders belong to the local store; a server has its own list
        names |= set(folders)
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
