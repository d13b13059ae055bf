"""Roll the champion back: the promotion's machinery, run backwards, as one unit.

    result = rollback(target, "burgers-surrogate")             # champion -> previous-champion
    result = rollback(target, "burgers-surrogate", to_version="3")
    result = rollback(target, dry_run=True); result.steps      # every step, nothing written

A plain rollback walks the champion history back one step (rolling back twice
goes back two champions); ``--to V`` makes V champion and keeps the current one as
``previous-champion``. Everything that named the old champion follows the alias:
the Production stage (when the champion held it), the production config (the
demoted version's ``configs/train_<name>.yaml`` is removed, or rewritten with the
new champion's config when both share the file), the run tags (the demoted runs go
back to ``success`` without ``unisim.model_version``; the new champion's runs are
``promoted``), both experiments' metadata.json and the leaderboard exports. A
failure part-way undoes every step done (plan.py).
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from unisim import tracking as T
from unisim.errors import UnisimError
from unisim.registry import plan as P
from unisim.registry.lock import registry_lock
from unisim.registry.plan import exports
from unisim.registry.promote import DEFAULT_MODEL_NAME

log = logging.getLogger(__name__)


@dataclass
class RollbackResult:
    name: str
    from_version: str
    to_version: str
    previous: str | None
    dry_run: bool
    steps: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    url: str = ""


@dataclass
class _Side:
    """One version's footprint: its runs, production config, experiment folder."""

    version: str
    runs: list[str]  # pipeline run and train run
    config_path: Path | None
    folder: Path | None
    run: Any  # the promoted (pipeline) run, or None when it is gone


def _side(store: T.Store, name: str, mv: Any) -> _Side:
    run_id = mv.tags.get(T.VTAG_RUN) or mv.run_id
    runs = [r for r in dict.fromkeys([run_id, mv.run_id]) if r]
    run = store.find_run(run_id) if run_id else None
    runs = [r for r in runs if store.find_run(r) is not None]
    folder = None
    if run is not None and run.data.tags.get(T.TAG_EXPERIMENT_DIR):
        path = Path(run.data.tags[T.TAG_EXPERIMENT_DIR])
        folder = path if path.is_dir() else None
    config = mv.tags.get(T.VTAG_PRODUCTION_CONFIG)
    return _Side(str(mv.version), runs, Path(config) if config else None, folder, run)


def _new_state(
    store: T.Store, name: str, state: T.AliasState, known: dict[str, Any], to: str | None
) -> T.AliasState:
    assert state.champion is not None
    history = state.history or [state.champion]
    if to is not None:
        new = str(to)
        if new not in known:
            raise UnisimError(f"registered model {name!r} has no version {new}")
        if new == state.champion:
            raise UnisimError(f"version {new} of {name!r} is already the champion")
        return T.AliasState(new, state.champion, [*history, new])
    if state.previous is None or state.previous not in known:
        raise UnisimError(
            f"registered model {name!r}: no previous-champion to roll back to (use --to VERSION)"
        )
    new = state.previous
    trimmed = list(history)
    while trimmed and trimmed[-1] != new:
        trimmed.pop()  # drop the champion being rolled back (and anything after new)
    trimmed = trimmed or [new]
    before = [v for v in trimmed[:-1] if v in known and v != new]
    return T.AliasState(new, before[-1] if before else None, trimmed)


def rollback(
    target: T.TrackingTarget,
    name: str = DEFAULT_MODEL_NAME,
    to_version: str | None = None,
    dry_run: bool = False,
    update_leaderboard: bool | None = None,
) -> RollbackResult:
    """Move ``champion`` back (see the module docstring); every record follows."""
    store = T.connect(target)
    with contextlib.nullcontext() if dry_run else registry_lock(target, name) as lease:
        if store.registered_model(name) is None:
            raise UnisimError(f"registered model {name!r} not found in {target.uri}")
        state = store.alias_state(name)
        if state.champion is None:
            raise UnisimError(f"registered model {name!r} has no champion to roll back")
        known = {str(mv.version): mv for mv in store.model_versions(name)}
        new_state = _new_state(store, name, state, known, to_version)
        assert new_state.champion is not None
        old, new = (
            _side(store, name, known[state.champion]),
            _side(store, name, known[new_state.champion]),
        )
        result = RollbackResult(
            name=name,
            from_version=state.champion,
            to_version=new.version,
            previous=new_state.previous,
            dry_run=dry_run,
            url=T.version_url(target, name, new.version),
        )
        move_stage = (
            store.stages_supported() and known[state.champion].current_stage == T.STAGE_PRODUCTION
        )
        plan = _Rollback(store, name, state, new_state, old, new, move_stage, result)
        plan.csv, plan.html = exports(update_leaderboard, None, None, target=target)
        result.steps = plan.describe()
        if move_stage:
            result.notes.append(P.STAGE_NOTE)
        if dry_run:
            return result
        plan.execute(lease.renew)
        log.info("rolled back %s: champion %s -> %s", name, state.champion, new.version)
        return result


class _Rollback:
    def __init__(
        self,
        store: T.Store,
        name: str,
        state: T.AliasState,
        new_state: T.AliasState,
        old: _Side,
        new: _Side,
        move_stage: bool,
        result: RollbackResult,
    ) -> None:
        self.store, self.name, self.state, self.new_state = store, name, state, new_state
        self.old, self.new, self.move_stage, self.result = old, new, move_stage, result
        self.csv: Path | None = None
        self.html: Path | None = None
        self.config_text = self._config_text()
        path = old.config_path
        # Remove the demoted version's production config only when the file is still its own.
        self.remove_old = (
            path is not None
            and path != new.config_path
            and path.is_file()
            and bool(old.runs)
            and f"Source run: {old.runs[0]}" in path.read_text(encoding="utf-8")
        )

    def _config_text(self) -> str | None:
        for run_id in self.new.runs:
            text = self.store.read_text(run_id, "config.yaml")
            if text is not None:
                return text if text.endswith("\n") else text + "\n"
        return None

    def describe(self) -> list[str]:
        o, n, ns = self.old, self.new, self.new_state
        steps = [f"move alias {T.ALIAS_CHAMPION}: version {o.version} -> {n.version}"]
        steps.append(
            f"set alias {T.ALIAS_PREVIOUS} -> {ns.previous}"
            if ns.previous
            else f"remove alias {T.ALIAS_PREVIOUS}"
        )
        if self.move_stage:
            steps.append(f"transition version {n.version} to {T.STAGE_PRODUCTION} (stage)")
        if self.remove_old:
            steps.append(f"remove {o.config_path} (production config of version {o.version})")
        if n.config_path is not None and self.config_text is not None:
            steps.append(f"write {n.config_path} (config of version {n.version})")
        if o.runs:
            steps.append(
                f"tag run(s) {', '.join(o.runs)}: unisim.status=success, no unisim.model_version"
            )
        if n.runs:
            steps.append(
                f"tag run(s) {', '.join(n.runs)}: unisim.status=promoted, "
                f"unisim.model_version={n.version}"
            )
        for side, what in ((o, "rolled back"), (n, "champion again")):
            if side.folder is not None:
                steps.append(
                    f"record version {side.version} as {what} in {side.folder}/metadata.json"
                )
        steps.extend(f"rewrite leaderboard export {p}" for p in (self.csv, self.html) if p)
        return steps

    def execute(self, before_step: Any = None) -> None:
        tx = P.Transaction(f"rollback of {self.name!r}", before_step=before_step)
        o, n = self.old, self.new
        steps: list[tuple[str, Any]] = [
            ("aliases", lambda: P.move_aliases(tx, self.store, self.name, self.new_state))
        ]
        if self.move_stage:
            notes: list[str] = []
            steps.append(
                ("stage", lambda: P.move_stage(tx, self.store, self.name, n.version, notes))
            )
        if self.remove_old:
            assert o.config_path is not None
            steps.append(("production config", lambda: P.remove_file(tx, o.config_path)))
        if n.config_path is not None and self.config_text is not None:
            steps.append(("production config", lambda: self._write_config(tx)))
        demote = {
            **T.status_tags(T.Status.SUCCESS),
            T.TAG_MODEL_VERSION: None,
            T.TAG_MODEL_NAME: None,
        }
        crown = {
            **T.status_tags(T.Status.PROMOTED),
            T.TAG_MODEL_VERSION: n.version,
            T.TAG_MODEL_NAME: self.name,
        }
        steps.append(("run tags", lambda: P.retag_runs(tx, self.store, o.runs, demote)))
        steps.append(("run tags", lambda: P.retag_runs(tx, self.store, n.runs, crown)))
        if o.folder is not None:
            steps.append(("metadata.json", lambda: self._metadata(tx, o, "rolled back")))
        if n.folder is not None:
            steps.append(("metadata.json", lambda: self._metadata(tx, n, "champion again")))
        if self.csv or self.html:
            steps.append(
                ("leaderboard", lambda: P.rewrite_leaderboard(tx, self.store, self.csv, self.html))
            )
        tx.run(steps)

    def _write_config(self, tx: P.Transaction) -> None:
        n = self.new
        assert n.config_path is not None and self.config_text is not None and n.run is not None
        header = P.production_header(
            self.store,
            path=n.config_path,
            run=n.run,
            experiment=self.store.experiment_name(n.run.info.experiment_id),
            train_run_id=n.runs[-1] if n.runs else None,
            model_name=self.name,
            version=n.version,
            metrics=dict(n.run.data.metrics),
            why=f"unisim registry rollback (from version {self.old.version})",
        )
        P.write_file(tx, n.config_path, header + self.config_text)

    def _metadata(self, tx: P.Transaction, side: _Side, event: str) -> None:
        assert side.folder is not None
        record = {
            "event": event,
            "model_name": self.name,
            "model_version": side.version,
            "at": P.now_iso(),
            "by": "rollback",
        }

        def change(data: dict) -> dict:
            history = [*data.get("promotions", []), record]
            if event == "rolled back":
                return {**data, "promotion": None, "promotions": history}
            current = next(
                (
                    p
                    for p in reversed(data.get("promotions", []))
                    if p.get("model_version") == side.version and "event" not in p
                ),
                {"model_name": self.name, "model_version": side.version},
            )
            return {
                **data,
                "promotion": {**current, "restored_at": P.now_iso()},
                "promotions": history,
            }

        P.update_metadata(tx, side.folder / "metadata.json", change)
