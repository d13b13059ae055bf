"""The crash-safe move under archive and restore: journal, copy, verify, rename, tag, delete.

    with session(root, target, dry_run) as ctx:     # the archive lock (none in a dry run)
        recover(ctx, report)                        # finish or undo what a killed call left
        move(ctx, journal_entry("archive", name, src, dst, ...), fresh=True)

One move per experiment; a journal makes each step re-runnable:

    1 journal   experiments-archive/.journal/NAME.json: file manifest (sha256), the
                metadata.json text and the run/experiment tags to write
    2 copy      experiments/NAME -> experiments-archive/.staging/NAME; verify list + sha256
    3 rename    .staging/NAME -> experiments-archive/NAME                 (commit point)
    4 metadata  experiments-archive/NAME/metadata.json (atomic)
    5 tags      the journal's run and experiment tags
    6 delete    experiments/NAME -> experiments/.trash/NAME (rename), then removed
    7 journal removed

Every invocation first finishes what a killed one left: before the commit point it
rolls back (only the staging copy existed), after it rolls forward with the tags
recorded in the journal, so a rerun writes the same ones. Restore is the same move in
the other direction. For crash tests, ``UNISIM_FAULT=archive:after-copy`` (or
``restore:...``) SIGKILLs the process at that point; the points are FAULT_POINTS.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from unisim import fsutil
from unisim import tracking as T
from unisim.errors import UnisimError
from unisim.experiments.folders import ARCHIVE_DIR, empty_dirs, folder_files, manifest
from unisim.faults import FAULT_ENV, fault

log = logging.getLogger(__name__)

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


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


# ---------------------------------------------------------------- the move (engine)


class Session:
    """Root and tracking store; holds the archive lock unless dry-run."""

    def __init__(self, root: Path, target: T.TrackingTarget, dry_run: bool) -> None:
        self.root, self.target, self.dry_run = root, target, dry_run
        self.journals = root / ARCHIVE_DIR / ".journal"

    def store(self, required: bool = True) -> T.Store | None:
        """The store; when not required, None if the local store does not exist yet."""
        return T.connect(self.target) if required or self.target.exists else None


@contextlib.contextmanager
def session(root: Path, target: T.TrackingTarget, dry_run: bool) -> Iterator[Session]:
    ctx = Session(root, target, dry_run)
    if dry_run:
        yield ctx
        return
    from unisim.locks import LockTimeout, file_lock

    try:
        with file_lock(ctx.journals / "lock", timeout_s=60):
            yield ctx
    except LockTimeout:
        raise UnisimError(f"{ctx.journals}/lock: another archive/restore is running") from None
    finally:
        with contextlib.suppress(OSError):  # no journal left: no folder either
            ctx.journals.rmdir()


def _paths(ctx: Session, j: dict[str, Any]) -> tuple[Path, Path, Path, Path, Path]:
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
    for rel in empty_dirs(src):  # kept: a folder a tool expects (logs/, checkpoints/)
        (dst / rel).mkdir(parents=True, exist_ok=True)
    for rel in folder_files(src):
        out = dst / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src / rel, out)
        with open(out, "rb+") as fh:  # on disk before the rename commits it
            os.fsync(fh.fileno())


def _verify(path: Path, expected: dict[str, str], exact: bool) -> None:
    """``path`` holds exactly the manifest's files (metadata.json may differ unless exact)."""
    got = manifest(path)
    if not any(k.endswith("/") for k in expected):  # a journal from before folders were kept
        got = {k: v for k, v in got.items() if not k.endswith("/")}
    if not exact:
        got.pop(META, None)
        expected = {k: v for k, v in expected.items() if k != META}
    if got != expected:
        missing = sorted(set(expected) - set(got))
        extra = sorted(set(got) - set(expected))
        changed = sorted(k for k in set(got) & set(expected) if got[k] != expected[k])
        what = missing and f"missing {missing[0]}" or extra and f"unexpected {extra[0]}"
        raise UnisimError(f"{path}: does not match the archive manifest ({what or changed[0]})")


def _apply_tags(ctx: Session, j: dict[str, Any]) -> None:
    """Write the journal's tags; writing them twice gives the same state.

    A run or experiment deleted meanwhile is skipped with a warning (the store's
    ``apply_*_tags(..., missing_ok=True)``).
    """
    if not j["run_tags"] and not j["experiment_id"]:
        return
    store = ctx.store()
    assert store is not None
    for i, (run_id, plan) in enumerate(sorted(j["run_tags"].items())):
        changes = {**plan["set"], **dict.fromkeys(plan["delete"])}
        store.apply_tags(run_id, changes, missing_ok=True)
        if i == 0:
            fault(j["op"], "mid-tags")
    if j["experiment_id"]:
        changes = {**j["experiment_tags"]["set"], **dict.fromkeys(j["experiment_tags"]["delete"])}
        store.set_experiment_tags(j["experiment_id"], changes, missing_ok=True)


def _has_running(ctx: Session, experiment_id: str | None) -> bool:
    store = ctx.store() if experiment_id else None
    return bool(store and store.running_runs(experiment_id))


def move(ctx: Session, j: dict[str, Any], fresh: bool) -> str:
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


def recover(ctx: Session, report: TransferReport) -> None:
    """Finish (after the commit point) or roll back (before it) every interrupted move."""
    if not ctx.journals.is_dir():
        return
    for jpath in sorted(ctx.journals.glob("*.json")):
        j = json.loads(jpath.read_text(encoding="utf-8"))
        committed = (ctx.root / j["dst"]).exists()
        verb = "finish" if committed else "roll back"
        report.actions.append(f"{verb} the interrupted {j['op']} of {j['name']} ({jpath})")
        outcome = f"would {verb}" if ctx.dry_run else move(ctx, j, fresh=False)
        report.recovered.append((j["op"], j["name"], outcome))


def journal_entry(op: str, name: str, src: str, dst: str, **parts: Any) -> dict[str, Any]:
    return {"op": op, "name": name, "src": src, "dst": dst, "started_at": now_iso(), **parts}
