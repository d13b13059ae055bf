"""Crash-safe archive and restore of experiment folders, with MLflow tags kept consistent.

    report = archive(target, status="all", dry_run=True)   # every action; nothing written
    report = archive(target, status="failed")               # or names=["2026-01-02-foo"]
    report = restore("2026-01-02-foo", target)
    print("\\n".join(report.actions))

One move per experiment; a journal makes each step re-runnable:

    1 journal   experiments-archive/.journal/NAME.json: file manifest (sha256), the
                metadata.json text and the run/experiment tags to write
    2 copy      experiments/NAME -> experiments-archive/.staging/NAME; verify list + sha256
    3 rename    .staging/NAME -> experiments-archive/NAME                 (commit point)
    4 metadata  experiments-archive/NAME/metadata.json (atomic)
    5 tags      runs: unisim.status=archived, previous status in unisim.final_status;
                experiment: unisim.status=archived, unisim.experiment_dir=experiments-archive/NAME
    6 delete    experiments/NAME -> experiments/.trash/NAME (rename), then removed
    7 journal removed

Every invocation first finishes what a killed one left: before the commit point it
rolls back (only the staging copy existed), after it rolls forward with the tags
recorded in the journal, so a rerun writes the same ones. Restore is the same move
in the other direction. A RUNNING experiment is never touched. For crash tests,
``UNISIM_FAULT=archive:after-copy`` (or ``restore:...``) SIGKILLs the process at that
point; the points are FAULT_POINTS.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from unisim import fsutil
from unisim import tracking as T
from unisim.errors import UnisimError
from unisim.lifecycle.experiments import (
    ARCHIVE_DIR,
    EXPERIMENTS_DIR,
    folder_files,
    manifest,
    validate_name,
)
from unisim.lifecycle.status import (
    ARCHIVED,
    FAILED,
    IDLE,
    PROMOTED,
    STALE,
    SUCCESS,
    ExperimentSummary,
    RunRow,
    StatusSettings,
    list_experiments,
    row_of,
    search_all,
)

log = logging.getLogger(__name__)

ARCHIVE_CHOICES = ("all", SUCCESS, FAILED, STALE, IDLE, PROMOTED)
ALL = (SUCCESS, FAILED, STALE)  # --status all: finished or abandoned; never active or promoted
FAULT_ENV = "UNISIM_FAULT"
FAULT_POINTS = (
    "after-journal",
    "after-copy",
    "after-verify",
    "after-rename",
    "after-metadata",
    "mid-tags",
    "after-tags",
    "after-trash",
    "after-delete",
)
META = "metadata.json"


@dataclass
class TransferReport:
    """What an archive/restore did (dry-run: would do), in order."""

    actions: list[str] = field(default_factory=list)
    planned: list[str] = field(default_factory=list)
    done: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    recovered: list[tuple[str, str, str]] = field(default_factory=list)  # (op, name, outcome)


def fault(op: str, point: str) -> None:
    """SIGKILL this process when ``$UNISIM_FAULT`` is ``op:point`` (crash tests only)."""
    if os.environ.get(FAULT_ENV) == f"{op}:{point}":
        log.warning("fault injection: killing the process at %s:%s", op, point)
        os.kill(os.getpid(), signal.SIGKILL)


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


# ---------------------------------------------------------------- the move (engine)


class _Session:
    """Root, store and a lazily made client; holds the archive lock unless dry-run."""

    def __init__(self, root: Path, target: T.TrackingTarget, dry_run: bool) -> None:
        self.root, self.target, self.dry_run = root, target, dry_run
        self.journals = root / ARCHIVE_DIR / ".journal"
        self._client: Any = None

    def client(self, required: bool = True) -> Any:
        """MlflowClient; when not required, None if the local store does not exist yet."""
        if self._client is None:
            db = self.target.uri[len("sqlite:///") :] if self.target.is_local else None
            if required or db is None or Path(db).is_file():
                self._client = T.configure(self.target)
        return self._client


@contextlib.contextmanager
def _session(root: Path, target: T.TrackingTarget, dry_run: bool) -> Iterator[_Session]:
    ctx = _Session(root, target, dry_run)
    if dry_run:
        yield ctx
        return
    from filelock import FileLock, Timeout

    ctx.journals.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(ctx.journals / "lock"), timeout=60)
    try:
        lock.acquire()
    except Timeout:
        raise UnisimError(f"{ctx.journals}/lock: another archive/restore is running") from None
    try:
        yield ctx
    finally:
        lock.release()


def _paths(ctx: _Session, j: dict[str, Any]) -> tuple[Path, Path, Path, Path, Path]:
    src, dst = ctx.root / j["src"], ctx.root / j["dst"]
    staging = dst.parent / ".staging" / j["name"]
    trash = src.parent / ".trash" / j["name"]
    return src, dst, staging, trash, ctx.journals / f"{j['name']}.json"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _copy_tree(src: Path, dst: Path) -> None:
    dst.mkdir(parents=True)
    for rel in folder_files(src):
        out = dst / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src / rel, out)
        with open(out, "rb+") as fh:  # on disk before the rename commits it
            os.fsync(fh.fileno())


def _verify(path: Path, expected: dict[str, str], exact: bool) -> None:
    """``path`` holds exactly the manifest's files (metadata.json may differ unless exact)."""
    got = manifest(path)
    if not exact:
        got.pop(META, None)
        expected = {k: v for k, v in expected.items() if k != META}
    if got != expected:
        missing = sorted(set(expected) - set(got))
        extra = sorted(set(got) - set(expected))
        changed = sorted(k for k in set(got) & set(expected) if got[k] != expected[k])
        what = missing and f"missing {missing[0]}" or extra and f"unexpected {extra[0]}"
        raise UnisimError(f"{path}: does not match the archive manifest ({what or changed[0]})")


def _ignore_missing(call: Any, *args: Any) -> None:
    from mlflow.exceptions import MlflowException

    try:
        call(*args)
    except MlflowException as exc:
        if exc.error_code not in ("RESOURCE_DOES_NOT_EXIST", "INVALID_STATE"):
            raise
        log.warning("%s%s: %s", call.__name__, args, str(exc).splitlines()[0])


def _apply_tags(ctx: _Session, j: dict[str, Any]) -> None:
    """Write the journal's tags; writing them twice gives the same state."""
    if not j["run_tags"] and not j["experiment_id"]:
        return
    from mlflow.entities import RunTag

    client = ctx.client()
    for i, (run_id, plan) in enumerate(sorted(j["run_tags"].items())):
        if plan["set"]:
            tags = [RunTag(k, v) for k, v in plan["set"].items()]
            _ignore_missing(lambda r, t: client.log_batch(r, tags=t), run_id, tags)
        for key in plan["delete"]:
            _ignore_missing(client.delete_tag, run_id, key)
        if i == 0:
            fault(j["op"], "mid-tags")
    if j["experiment_id"]:
        for key, value in j["experiment_tags"]["set"].items():
            _ignore_missing(client.set_experiment_tag, j["experiment_id"], key, value)
        for key in j["experiment_tags"]["delete"]:
            _ignore_missing(client.delete_experiment_tag, j["experiment_id"], key)


def _has_running(ctx: _Session, experiment_id: str | None) -> bool:
    if not experiment_id:
        return False
    client = ctx.client()
    return bool(client.search_runs([experiment_id], "attributes.status = 'RUNNING'", max_results=1))


def _move(ctx: _Session, j: dict[str, Any], fresh: bool) -> str:
    """Run (``fresh``) or resume a journalled move; returns ``done`` or ``rolled back``."""
    op = j["op"]
    src, dst, staging, trash, jpath = _paths(ctx, j)
    if fresh:
        fsutil.atomic_write_json(jpath, j)
        fault(op, "after-journal")
    if not dst.exists():  # not committed: start over (fresh) or undo (a killed run)
        shutil.rmtree(staging, ignore_errors=True)
        if not fresh or (op == "archive" and _has_running(ctx, j["experiment_id"])):
            jpath.unlink(missing_ok=True)
            return "rolled back"
        _copy_tree(src, staging)
        fault(op, "after-copy")
        _verify(staging, j["manifest"], exact=True)
        fault(op, "after-verify")
        os.rename(staging, dst)
        _fsync_dir(dst.parent)
        fault(op, "after-rename")
    _verify(dst, j["manifest"], exact=False)
    meta = dst / META
    if j["metadata"] is None:
        meta.unlink(missing_ok=True)
    elif not meta.is_file() or meta.read_text(encoding="utf-8") != j["metadata"]:
        fsutil.atomic_write_text(meta, j["metadata"])
    fault(op, "after-metadata")
    try:
        _apply_tags(ctx, j)
    except Exception as exc:  # the store is down, say: the journal lets a rerun finish
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise UnisimError(
            f"{op} of {j['name']}: MLflow tags not written ({reason}); the folder is safe in "
            f"{j['dst']}; run the command again to finish"
        ) from None
    fault(op, "after-tags")
    if src.exists():
        try:
            _verify(src, j["manifest"], exact=True)
        except UnisimError:
            raise UnisimError(
                f"{j['src']} changed while its {op} to {j['dst']} was interrupted; keep one "
                f"copy by hand, then delete {jpath}"
            ) from None
        shutil.rmtree(trash, ignore_errors=True)
        trash.parent.mkdir(parents=True, exist_ok=True)
        os.rename(src, trash)  # atomic: src is whole or gone, never half deleted
        fault(op, "after-trash")
    shutil.rmtree(trash, ignore_errors=True)
    fault(op, "after-delete")
    jpath.unlink(missing_ok=True)
    for empty in (staging.parent, trash.parent):
        with contextlib.suppress(OSError):
            empty.rmdir()
    return "done"


def _recover(ctx: _Session, report: TransferReport) -> None:
    """Finish (after the commit point) or roll back (before it) every interrupted move."""
    if not ctx.journals.is_dir():
        return
    for jpath in sorted(ctx.journals.glob("*.json")):
        j = json.loads(jpath.read_text(encoding="utf-8"))
        committed = (ctx.root / j["dst"]).exists()
        verb = "finish" if committed else "roll back"
        report.actions.append(f"{verb} the interrupted {j['op']} of {j['name']} ({jpath})")
        outcome = f"would {verb}" if ctx.dry_run else _move(ctx, j, fresh=False)
        report.recovered.append((j["op"], j["name"], outcome))


def _journal(op: str, name: str, src: str, dst: str, **parts: Any) -> dict[str, Any]:
    return {"op": op, "name": name, "src": src, "dst": dst, "started_at": _now_iso(), **parts}


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
    ctx: _Session, s: ExperimentSummary, rows: list[RunRow], client: Any
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
        run_tags[row.run_id] = {
            "set": {T.TAG_FINAL_STATUS: before or "", T.TAG_STATUS: ARCHIVED},
            "delete": [],
        }
    new_exp_tags = {
        T.TAG_STATUS: ARCHIVED,
        T.TAG_FINAL_STATUS: s.status,
        T.TAG_EXPERIMENT_DIR: f"{ARCHIVE_DIR}/{s.name}",
        "unisim.archived_at": _now_iso(),
    }
    current = client.get_experiment(s.experiment_id).tags if client and s.experiment_id else {}
    best: dict[str, Any] = {"run_id": s.best_run, "final_nrmse": s.best_nrmse}
    if s.best_run and client is not None:
        best["metrics"] = dict(client.get_run(s.best_run).data.metrics)
    from unisim import __version__

    section = {
        "status": s.status,
        "reason": s.reason,
        "run_ids": sorted(r.run_id for r in rows),
        "pipeline_run_ids": sorted(r.run_id for r in rows if r.kind == "pipeline"),
        "best": best,
        "model_version": s.model_version,
        "mlflow_experiment_id": s.experiment_id,
        "archived_at": new_exp_tags["unisim.archived_at"],
        "unisim_version": __version__,
        "files": files,
        "experiment_tags_before": {k: current.get(k) for k in new_exp_tags},
        "original_metadata": original,
    }
    base = base if isinstance(base, dict) else {}
    text = json.dumps({**base, "archive": section}, indent=2, sort_keys=True, default=str)
    return _journal(
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
    nrmse = f"{s.best_nrmse:.4g}" if s.best_nrmse is not None else "-"
    lines = [f"archive {s.name} ({s.status}: {s.reason})"]
    lines.append(f"  copy {len(j['manifest'])} files to {j['dst']}/, verified by sha256:")
    lines += [f"    {rel}" for rel in j["manifest"]]
    lines.append(
        f"  write {j['dst']}/{META} (status {s.status}, {len(j['run_tags'])} run ids, "
        f"best final_nrmse {nrmse})"
    )
    if j["run_tags"]:
        lines.append(
            f"  tag {len(j['run_tags'])} runs {T.TAG_STATUS}=archived, previous status "
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
    with _session(root, target, dry_run) as ctx:
        _recover(ctx, report)
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
            client = ctx.client(required=not dry_run and s.experiment_id is not None)
            has_runs = client is not None and s.experiment_id is not None
            rows = [row_of(r) for r in search_all(client, [s.experiment_id])] if has_runs else []
            try:
                plan = _plan_archive(ctx, s, rows, client)
            except UnisimError as exc:  # e.g. a symlink in the folder: skip it, do the rest
                report.skipped.append((s.name, str(exc)))
                report.actions.append(f"skip {s.name}: {exc}")
                continue
            report.planned.append(s.name)
            report.actions += _describe_archive(plan, s)
            if dry_run:
                continue
            if _move(ctx, plan, fresh=True) == "done":
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
    with _session(root, target, dry_run) as ctx:
        _recover(ctx, report)
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
        client = ctx.client(required=not dry_run and exp_id is not None)
        run_tags: dict[str, dict[str, Any]] = {}
        archived_filter = f"tags.`{T.TAG_STATUS}` = '{ARCHIVED}'"
        runs = search_all(client, [exp_id], archived_filter) if client and exp_id else []
        for run in runs:
            before = run.data.tags.get(T.TAG_FINAL_STATUS)
            run_tags[run.info.run_id] = (
                {"set": {T.TAG_STATUS: before}, "delete": [T.TAG_FINAL_STATUS]}
                if before
                else {"set": {}, "delete": [T.TAG_STATUS, T.TAG_FINAL_STATUS]}
            )
        tags_before = section.get("experiment_tags_before") or {}
        original = section.get("original_metadata")
        plan = _journal(
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
            f"  copy {len(plan['manifest'])} files to {plan['dst']}/, verified by sha256",
            f"  {META}: back to its content before the archive"
            if original is not None
            else f"  remove {META} (there was none before the archive)",
            f"  tag {len(run_tags)} runs back to their {T.TAG_FINAL_STATUS}",
            f"  reset the tags of MLflow experiment {exp_id}" if exp_id else "  no MLflow tags",
            f"  remove {plan['src']}",
        ]
        if not dry_run and _move(ctx, plan, fresh=True) == "done":
            report.done.append(name)
    return report
