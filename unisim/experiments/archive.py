"""Archive and restore experiment folders, crash-safe, with MLflow tags kept consistent.

    report = archive(target, status="all", dry_run=True)   # every action; nothing written
    report = archive(target, status="failed")               # or names=["2026-01-02-foo"]
    report = restore("2026-01-02-foo", target)
    print("\n".join(report.actions))

This module decides what to move and which tags and metadata to write (the plan,
written to a journal first); ``transfer.py`` performs the move so that a killed
process can be finished or rolled back by the next call. Run tags go through
``tracking.status_tags`` (archived, with the previous status in
``unisim.final_status``). A RUNNING experiment is never touched.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from pathlib import Path
from typing import Any

from unisim import fsutil
from unisim import tracking as T
from unisim.errors import UnisimError
from unisim.experiments.folders import (
    ARCHIVE_DIR,
    EXPERIMENTS_DIR,
    manifest,
    validate_name,
)
from unisim.experiments.status import (
    ARCHIVED,
    FAILED,
    IDLE,
    PROMOTED,
    STALE,
    SUCCESS,
    ExperimentSummary,
    StatusSettings,
    list_experiments,
)
from unisim.display import num, plural
from unisim.experiments.transfer import (
    FAULT_ENV,
    FAULT_POINTS,
    META,
    Session,
    TransferReport,
    journal_entry,
    move,
    now_iso,
    recover,
    session,
)
from unisim.tracking.snapshot import RunRow, row_of
from unisim.tracking.writes import status_tags

__all__ = ["FAULT_ENV", "FAULT_POINTS", "TransferReport", "archive", "restore"]

log = logging.getLogger(__name__)

ARCHIVE_CHOICES = ("all", SUCCESS, FAILED, STALE, IDLE, PROMOTED)
ALL = (SUCCESS, FAILED, STALE)  # --status all: finished or abandoned; never active or promoted


# ---------------------------------------------------------------- archive


def _select(
    summaries: list[ExperimentSummary], status: str | None, names: list[str] | None
) -> tuple[list[ExperimentSummary], list[tuple[str, str]]]:
    live = {s.name: s for s in summaries if s.folder == f"{EXPERIMENTS_DIR}/{s.name}"}
    if names:
        for name in names:
            if name not in live:
                raise UnisimError(f"{EXPERIMENTS_DIR}/{name}: no such experiment folder")
        chosen = [live[n] for n in names]
        if status not in (None, "all"):
            chosen = [s for s in chosen if s.status == status]
    else:
        wanted = ALL if status in (None, "all") else (status,)
        chosen = [s for s in live.values() if s.status in wanted]
    skipped = [(s.name, f"run {s.running[0]} is RUNNING; not touched") for s in chosen if s.running]
    return [s for s in chosen if not s.running], skipped


def _plan_archive(
    ctx: Session, s: ExperimentSummary, rows: list[RunRow], store: T.Store | None
) -> dict[str, Any]:
    """The journal of one archive: everything the later steps write, decided up front."""
    src = ctx.root / EXPERIMENTS_DIR / s.name
    files = manifest(src)
    original = (src / META).read_text(encoding="utf-8") if (src / META).is_file() else None
    try:
        base = json.loads(original) if original else {}
    except ValueError:
        base = {}
    run_tags = {}
    for row in rows:
        before = row.tags.get(T.TAG_STATUS)
        if before == ARCHIVED:  # archived before and never restored: keep its real status
            before = row.tags.get(T.TAG_FINAL_STATUS)
        run_tags[row.run_id] = {"set": status_tags(ARCHIVED, previous=before), "delete": []}
    new_exp_tags = {
        T.TAG_STATUS: ARCHIVED,
        T.TAG_FINAL_STATUS: s.status,
        T.TAG_EXPERIMENT_DIR: f"{ARCHIVE_DIR}/{s.name}",
        T.TAG_ARCHIVED_AT: now_iso(),
    }
    current = store.experiment(s.experiment_id).tags if store and s.experiment_id else {}
    best: dict[str, Any] = {"run_id": s.best_run, "final_nrmse": s.best_nrmse}
    if s.best_run and store is not None:
        best["metrics"] = dict(store.get_run(s.best_run).data.metrics)
    from unisim import __version__

    section = {
        "status": s.status,
        "reason": s.reason,
        "run_ids": sorted(r.run_id for r in rows),
        "pipeline_run_ids": sorted(r.run_id for r in rows if r.kind == "pipeline"),
        "best": best,
        "model_version": s.model_version,
        "mlflow_experiment_id": s.experiment_id,
        "archived_at": new_exp_tags[T.TAG_ARCHIVED_AT],
        "unisim_version": __version__,
        "files": files,
        "experiment_tags_before": {k: current.get(k) for k in new_exp_tags},
        "original_metadata": original,
    }
    base = base if isinstance(base, dict) else {}
    text = json.dumps({**base, "archive": section}, indent=2, sort_keys=True, default=str)
    return journal_entry(
        "archive",
        s.name,
        f"{EXPERIMENTS_DIR}/{s.name}",
        f"{ARCHIVE_DIR}/{s.name}",
        manifest=files,
        metadata=text + "\n",
        experiment_id=s.experiment_id,
        run_tags=run_tags,
        experiment_tags={"set": new_exp_tags if s.experiment_id else {}, "delete": []},
    )


def _describe_archive(j: dict[str, Any], s: ExperimentSummary) -> list[str]:
    nrmse = num(s.best_nrmse)
    lines = [f"archive {s.name} ({s.status}: {s.reason})"]
    lines.append(f"  copy {plural(len(j['manifest']), 'file')} to {j['dst']}/, verified by sha256:")
    lines += [f"    {rel}" for rel in j["manifest"]]
    lines.append(
        f"  write {j['dst']}/{META} (status {s.status}, {len(j['run_tags'])} run ids, "
        f"best final_nrmse {nrmse})"
    )
    if j["run_tags"]:
        lines.append(
            f"  tag {plural(len(j['run_tags']), 'run')} {T.TAG_STATUS}=archived, previous status "
            f"in {T.TAG_FINAL_STATUS}"
        )
    if j["experiment_id"]:
        lines.append(
            f"  tag MLflow experiment {j['experiment_id']} {T.TAG_STATUS}=archived, "
            f"{T.TAG_EXPERIMENT_DIR}={j['dst']}"
        )
    lines.append(f"  remove {j['src']}")
    return lines


def archive(
    target: T.TrackingTarget | None = None,
    *,
    root: Path | None = None,
    status: str | None = "all",
    names: list[str] | None = None,
    dry_run: bool = False,
    now: datetime | None = None,
    settings: StatusSettings | None = None,
) -> TransferReport:
    """Archive experiments by status (``all`` = success, failed, stale) or by name.

    ``status=None`` with ``names`` archives those whatever their status; an
    experiment with a RUNNING run is skipped either way.
    """
    if status is not None and status not in ARCHIVE_CHOICES:
        raise UnisimError(f"--status {status!r}: choose one of {', '.join(ARCHIVE_CHOICES)}")
    for name in names or []:
        validate_name(name)
    root = root or Path.cwd()
    target = target or T.resolve_tracking()
    report = TransferReport()
    with session(root, target, dry_run) as ctx:
        recover(ctx, report)
        finished = {n for op, n, how in report.recovered if op == "archive" and how == "done"}
        pending = [n for n in names or [] if n not in finished]
        if names and not pending:
            return report
        summaries = list_experiments(target, root=root, now=now, settings=settings)
        chosen, report.skipped = _select(summaries, status, pending or None)
        report.actions += [f"skip {name}: {why}" for name, why in report.skipped]
        if not chosen:
            report.actions.append("nothing to archive")
        for s in chosen:
            if (root / ARCHIVE_DIR / s.name).exists():
                why = f"{ARCHIVE_DIR}/{s.name} already exists; rename one of them"
                report.skipped.append((s.name, why))
                report.actions.append(f"skip {s.name}: {why}")
                continue
            store = ctx.store(required=not dry_run and s.experiment_id is not None)
            has_runs = store is not None and s.experiment_id is not None
            rows = [row_of(r) for r in store.iter_runs([s.experiment_id])] if has_runs else []
            try:
                plan = _plan_archive(ctx, s, rows, store)
            except UnisimError as exc:  # e.g. a symlink in the folder: skip it, do the rest
                report.skipped.append((s.name, str(exc)))
                report.actions.append(f"skip {s.name}: {exc}")
                continue
            report.planned.append(s.name)
            report.actions += _describe_archive(plan, s)
            if dry_run:
                continue
            if move(ctx, plan, fresh=True) == "done":
                report.done.append(s.name)
            else:
                report.skipped.append((s.name, "a run started meanwhile; rolled back"))
                report.actions.append(f"  rolled back {s.name}: a run started meanwhile")
    return report


# ---------------------------------------------------------------- restore


def restore(
    name: str,
    target: T.TrackingTarget | None = None,
    *,
    root: Path | None = None,
    dry_run: bool = False,
) -> TransferReport:
    """Bring ``experiments-archive/NAME`` back to ``experiments/NAME`` and undo its tags."""
    validate_name(name)
    root = root or Path.cwd()
    target = target or T.resolve_tracking()
    report = TransferReport()
    with session(root, target, dry_run) as ctx:
        recover(ctx, report)
        if ("restore", name, "done") in report.recovered:
            report.done.append(name)
            return report
        src, dst = root / ARCHIVE_DIR / name, root / EXPERIMENTS_DIR / name
        if not src.is_dir():
            raise UnisimError(f"{ARCHIVE_DIR}/{name}: no such archived experiment")
        if dst.exists():
            raise UnisimError(f"{EXPERIMENTS_DIR}/{name}: already exists; not overwritten")
        meta = fsutil.read_json(src / META, default={}) or {}
        section = meta.get("archive") if isinstance(meta, dict) else None
        if not isinstance(section, dict):
            raise UnisimError(f"{ARCHIVE_DIR}/{name}/{META}: no 'archive' record to restore from")
        exp_id = section.get("mlflow_experiment_id")
        store = ctx.store(required=not dry_run and exp_id is not None)
        run_tags: dict[str, dict[str, Any]] = {}
        runs = store.runs_with_tag([exp_id], T.TAG_STATUS, ARCHIVED) if store and exp_id else []
        for run in runs:
            before = run.data.tags.get(T.TAG_FINAL_STATUS)
            back = status_tags(before) if before else {T.TAG_STATUS: None}
            back[T.TAG_FINAL_STATUS] = None
            run_tags[run.info.run_id] = {
                "set": {k: v for k, v in back.items() if v is not None},
                "delete": [k for k, v in back.items() if v is None],
            }
        tags_before = section.get("experiment_tags_before") or {}
        original = section.get("original_metadata")
        plan = journal_entry(
            "restore",
            name,
            f"{ARCHIVE_DIR}/{name}",
            f"{EXPERIMENTS_DIR}/{name}",
            manifest=manifest(src),
            metadata=original,
            experiment_id=exp_id,
            run_tags=run_tags,
            experiment_tags={
                "set": {k: v for k, v in tags_before.items() if v is not None},
                "delete": [k for k, v in tags_before.items() if v is None],
            },
        )
        report.actions += [
            f"restore {name} (archived as {section.get('status')})",
            f"  copy {plural(len(plan['manifest']), 'file')} to {plan['dst']}/, verified by sha256",
            f"  {META}: back to its content before the archive"
            if original is not None
            else f"  remove {META} (there was none before the archive)",
            f"  tag {plural(len(run_tags), 'run')} back to their {T.TAG_FINAL_STATUS}",
            f"  reset the tags of MLflow experiment {exp_id}" if exp_id else "  no MLflow tags",
            f"  remove {plan['src']}",
        ]
        if not dry_run and move(ctx, plan, fresh=True) == "done":
            report.done.append(name)
    return report
