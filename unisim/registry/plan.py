"""Registry changes as one unit: each step registers its undo before it acts.

    tx = Transaction(f"promotion of run {run_id}", before_step=lease.renew)
    tx.run([("register", lambda: ...), ("aliases", lambda: move_aliases(tx, store, name, new))])
    # a step that raises: the undo stack runs newest first, then one UnisimError names the
    # failed step, what was undone and anything that could not be

The steps promotion and rollback share live here: move the aliases, move the
Production stage, write or remove a production config, retag runs, record the
change in an experiment's metadata.json, rewrite the leaderboard exports.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from unisim import fsutil
from unisim import tracking as T
from unisim.errors import UnisimError

log = logging.getLogger(__name__)

STAGE_NOTE = (
    "model stages are deprecated since MLflow 2.9 (the 'champion' alias is the supported "
    "pointer); the stage is set for older tools only"
)
# Run tags a promotion or rollback changes (and an undo restores).
RUN_TAGS = (
    T.TAG_STATUS,
    T.TAG_FAILURE_REASON,
    T.TAG_MODEL_VERSION,
    T.TAG_MODEL_NAME,
)


def fmt(value: float | None) -> str:
    from unisim.display import num

    return num(value, empty="n/a")


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class Transaction:
    """Named steps with an undo stack; ``run`` does them all or none (as far as undo can)."""

    def __init__(self, what: str, before_step: Callable[[], Any] | None = None) -> None:
        self.what = what
        self._undo: list[tuple[str, Callable[[], Any]]] = []
        self.step = "start"
        self.before_step = before_step  # the promotion lease's renew: stop if it was lost

    def push(self, what: str, action: Callable[[], Any]) -> None:
        """Register how to undo the step about to happen."""
        self._undo.append((what, action))

    def run(self, steps: list[tuple[str, Callable[[], Any]]]) -> None:
        for name, action in steps:
            self.step = name
            try:
                if self.before_step is not None:
                    self.before_step()
                action()
            except Exception as exc:
                self._fail(exc)

    def _fail(self, exc: Exception) -> None:
        undone, failed = [], []
        for what, action in reversed(self._undo):
            try:
                action()
                undone.append(what)
            except Exception as again:  # keep undoing the rest
                failed.append(f"{what} ({type(again).__name__}: {again})")
        msg = (
            f"{self.what} failed at {self.step} ({type(exc).__name__}: {exc}); "
            f"undone: {', '.join(undone) or 'nothing'}"
        )
        if failed:
            msg += f"; COULD NOT UNDO: {', '.join(failed)}"
        log.error(msg)
        raise UnisimError(msg) from None


# ---------------------------------------------------------------- files


def _restore_file(path: Path, old: bytes | None) -> None:
    if old is None:
        if path.is_file() or path.is_symlink():
            path.unlink()
    else:
        fsutil.atomic_write_bytes(path, old)


def _read_bytes(path: Path) -> bytes | None:
    return path.read_bytes() if path.is_file() else None


def make_parent(tx: Transaction, path: Path) -> None:
    """Create ``path``'s missing parent folders; undo removes them again (when empty)."""
    missing = [p for p in (path.parent, *path.parent.parents) if not p.exists()]
    for folder in reversed(missing):
        folder.mkdir()
        tx.push(f"{folder}/ removed", lambda f=folder: f.rmdir())


def write_file(tx: Transaction, path: Path, text: str) -> None:
    make_parent(tx, path)
    old = _read_bytes(path)
    tx.push(
        f"{path} {'restored' if old is not None else 'removed'}", lambda: _restore_file(path, old)
    )
    fsutil.atomic_write_text(path, text)


def remove_file(tx: Transaction, path: Path) -> None:
    old = _read_bytes(path)
    if old is None:
        return
    tx.push(f"{path} restored", lambda: _restore_file(path, old))
    path.unlink()


def update_metadata(tx: Transaction, path: Path, change: Callable[[dict], dict]) -> None:
    """Rewrite an experiment's metadata.json through ``change`` (a dict -> dict)."""
    old = _read_bytes(path)
    tx.push(f"{path} restored", lambda: _restore_file(path, old))
    data = fsutil.read_json(path, default={}) or {}
    fsutil.atomic_write_json(path, change(dict(data)))


# ---------------------------------------------------------------- the store


def retag_runs(tx: Transaction, store: T.Store, run_ids: list[str], tags: dict[str, Any]) -> None:
    """Apply ``tags`` (None deletes) to each run; undo puts every touched key back."""
    for run_id in run_ids:
        current = store.get_run(run_id).data.tags
        before = {k: current.get(k) for k in {*RUN_TAGS, *tags}}
        tx.push(f"tags of run {run_id} restored", lambda r=run_id, b=before: store.apply_tags(r, b))
        store.apply_tags(run_id, tags)


def move_aliases(tx: Transaction, store: T.Store, name: str, new: T.AliasState) -> None:
    old = store.alias_state(name)
    tx.push(
        f"alias {T.ALIAS_CHAMPION} back on {old.champion or 'nothing'}",
        lambda: store.write_alias_state(name, old),
    )
    store.write_alias_state(name, new)


def move_stage(tx: Transaction, store: T.Store, name: str, version: str, notes: list[str]) -> None:
    if not store.stages_supported():
        notes.append("this MLflow has no model stages; --stage ignored")
        return
    notes.append(STAGE_NOTE)
    old = store.stages(name)
    tx.push("stages restored", lambda: store.restore_stages(name, old))
    store.set_production(name, version)


def rewrite_leaderboard(
    tx: Transaction, store: T.Store, csv: Path | None, html: Path | None
) -> None:
    from unisim.reports.leaderboard import write_leaderboard

    for path in (p for p in (csv, html) if p):
        make_parent(tx, path)
        old = _read_bytes(path)
        tx.push(f"{path} restored", lambda p=path, o=old: _restore_file(p, o))
    write_leaderboard(store.target, csv=csv, html=html, store=store)


def production_header(
    store: T.Store,
    *,
    path: Path,
    run: Any,
    experiment: str,
    train_run_id: str | None,
    model_name: str,
    version: str,
    metrics: dict[str, float | None],
    why: str,
) -> str:
    """The comment block naming the source of a production config."""
    tags = run.data.tags
    lines = [
        f"# Production config {path.name}, written by `{why}` on {now_iso()}.",
        f"# Source run: {run.info.run_id} (experiment {experiment})",
        f"#   {T.run_url(store.target, run.info.experiment_id, run.info.run_id)}",
        f"# Train run: {train_run_id}",
        f"# Model: {model_name} version {version} (models:/{model_name}/{version}), "
        f"alias {T.ALIAS_CHAMPION}",
        f"# Metrics: final_nrmse={fmt(metrics.get(T.FINAL_NRMSE))} "
        f"one_step_nrmse={fmt(metrics.get(T.ONE_STEP_NRMSE))}",
        f"# Hashes: config {tags.get(T.TAG_CONFIG_HASH)}, data {tags.get(T.TAG_DATA_HASH)}",
    ]
    return "\n".join(lines) + "\n"


def registered_note(note: str, name: str, version: str, url: str, when: str) -> str:
    """A run description with its registered version in place of "not registered yet"."""
    lines = note.splitlines()
    for i, line in enumerate(lines):
        if "; not registered yet" in line:
            lines[i] = line.split("; not registered yet")[0] + "."
    lines += ["", f"Registered as [{name} version {version}]({url}) on {when[:10]}."]
    return "\n".join(lines).strip() + "\n"


def exports(
    update: bool | None,
    csv: str | Path | None,
    html: str | Path | None,
    *,
    target: T.TrackingTarget,
) -> tuple[Path | None, Path | None]:
    """Which leaderboard exports to rewrite (see ``promote_run``): this store's defaults
    (``reports.leaderboard.default_exports``) unless named."""
    from unisim.reports.leaderboard import default_exports

    default_csv, default_html = default_exports(target)

    def pick(explicit: str | Path | None, default: str) -> Path | None:
        if explicit:
            return Path(explicit)
        if update or (update is None and Path(default).is_file()):
            return Path(default)
        return None

    return pick(csv, str(default_csv)), pick(html, str(default_html))
