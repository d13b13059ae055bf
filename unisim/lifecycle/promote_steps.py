"""The steps of a promotion, done as one unit: each step registers its undo first.

    plan = Plan(client, target, candidate, result, alias_state, existing_version, stage, auto)
    plan.describe()    # the steps, for --dry-run
    plan.execute()     # register -> aliases -> stage -> config -> run tags -> metadata -> exports

When a step raises, the undo stack runs newest first (delete the new version,
move the aliases back, restore files and tags) and a UnisimError names the
failed step, what was undone and anything that could not be.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from unisim import fsutil, tracking
from unisim.errors import UnisimError
from unisim.lifecycle import registry as reg

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion

    from unisim.lifecycle.candidates import Candidate
    from unisim.lifecycle.promote import PromotionResult
    from unisim.tracking import TrackingTarget

log = logging.getLogger(__name__)

RUN_TAGS = (tracking.TAG_STATUS, tracking.TAG_MODEL_VERSION, tracking.TAG_MODEL_NAME)


def fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.6g}"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class _Undo:
    """A stack of compensating actions, run newest first when a step fails."""

    def __init__(self) -> None:
        self._stack: list[tuple[str, Callable[[], Any]]] = []

    def push(self, what: str, action: Callable[[], Any]) -> None:
        self._stack.append((what, action))

    def run(self) -> tuple[list[str], list[str]]:
        undone, failed = [], []
        for what, action in reversed(self._stack):
            try:
                action()
                undone.append(what)
            except Exception as exc:  # keep undoing the rest
                failed.append(f"{what} ({type(exc).__name__}: {exc})")
        return undone, failed


def _restore_file(path: Path, old: bytes | None) -> None:
    if old is None:
        if path.is_file() or path.is_symlink():
            path.unlink()
    else:
        fsutil.atomic_write_bytes(path, old)


def _read_bytes(path: Path) -> bytes | None:
    return path.read_bytes() if path.is_file() else None


def _make_parent(undo: _Undo, path: Path) -> None:
    """Create ``path``'s missing parent folders; undo removes them again (when empty)."""
    missing = [p for p in (path.parent, *path.parent.parents) if not p.exists()]
    for folder in reversed(missing):
        folder.mkdir()
        undo.push(f"{folder}/ removed", lambda f=folder: f.rmdir())


class Plan:
    """The promotion's steps: ``describe`` lists them, ``execute`` does them with undo."""

    def __init__(
        self,
        client: MlflowClient,
        target: TrackingTarget,
        cand: Candidate,
        result: PromotionResult,
        state: reg.AliasState,
        existing: ModelVersion | None,
        stage: bool,
        auto: bool,
    ) -> None:
        self.client, self.target, self.cand, self.result = client, target, cand, result
        self.state, self.existing, self.stage, self.auto = state, existing, stage, auto
        self.name = result.model_name
        self.leaderboard: list[Path] = []
        self.csv: str | Path | None = None
        self.html: str | Path | None = None
        self.runs = [cand.run_id] + (
            [cand.train_run_id] if cand.train_run_id not in (None, cand.run_id) else []
        )
        self.metadata = cand.folder / "metadata.json" if cand.folder is not None else None
        self.model_exists = reg.get_model(client, self.name) is not None

    def describe(self, version: str | None = None) -> list[str]:
        r, state = self.result, self.state
        v = version or (str(self.existing.version) if self.existing else None)
        label = f"version {v}" if v else "a new version"
        steps = []
        if not self.model_exists:
            steps.append(f"create registered model {self.name!r}")
        if self.existing is not None:
            steps.append(f"reuse {label} of {self.name!r} (already registered from this run)")
        else:
            steps.append(
                f"register {label} of {self.name!r} from runs:/{self.cand.train_run_id}/model "
                f"with tags run, data/config hash, final_nrmse, gates"
            )
        was = f" (was version {state.champion})" if state.champion else ""
        steps.append(f"set alias {reg.ALIAS_CHAMPION} -> {label}{was}")
        if state.champion:
            steps.append(f"set alias {reg.ALIAS_PREVIOUS} -> version {state.champion}")
        if self.stage:
            steps.append(f"transition {label} to {reg.STAGE_PRODUCTION}, archiving the previous")
        steps.append(f"write {r.config_path} (source run {r.run_id}, {label})")
        steps.append(
            f"tag run(s) {', '.join(self.runs)}: unisim.status=promoted, "
            f"unisim.model_version={v or '<new>'}"
        )
        if self.metadata is not None:
            steps.append(f"record the promotion in {self.metadata}")
        steps.extend(f"rewrite leaderboard export {p}" for p in self.leaderboard)
        return steps

    def execute(self) -> None:
        undo = _Undo()
        step = "start"
        try:
            step = "register"
            version = self._register(undo)
            self.result.version = version
            step = "aliases"
            self._aliases(undo, version)
            if self.stage:
                step = "stage"
                self._stage(undo, version)
            step = "production config"
            self._write_config(undo, version)
            step = "run tags"
            self._tag_runs(undo, version)
            if self.metadata is not None:
                step = "metadata.json"
                self._metadata(undo, version)
            if self.leaderboard:
                step = "leaderboard"
                self._leaderboard(undo)
        except Exception as exc:
            undone, failed = undo.run()
            msg = (
                f"promotion of run {self.cand.run_id} failed at {step} "
                f"({type(exc).__name__}: {exc}); undone: {', '.join(undone) or 'nothing'}"
            )
            if failed:
                msg += f"; COULD NOT UNDO: {', '.join(failed)}"
            log.error(msg)
            raise UnisimError(msg) from None
        self.result.promoted = True
        self.result.previous_champion = self.state.champion
        self.result.steps = self.describe(version)
        self.result.url = reg.version_url(self.target, self.name, version)
        log.info("promoted run %s as %s version %s", self.cand.run_id, self.name, version)

    def _register(self, undo: _Undo) -> str:
        from mlflow.exceptions import MlflowException

        if self.existing is not None:
            return str(self.existing.version)
        if not self.model_exists:
            try:
                self.client.create_registered_model(
                    self.name, description="Neural PDE surrogate; alias 'champion' is production."
                )
                undo.push(
                    f"registered model {self.name!r} deleted",
                    lambda: self.client.delete_registered_model(self.name),
                )
            except MlflowException as exc:  # created meanwhile by another machine
                if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                    raise
        c, r = self.cand, self.result
        data_hash = c.tag(tracking.TAG_DATA_HASH)
        config_hash = c.tag(tracking.TAG_CONFIG_HASH)
        tags = {
            reg.VTAG_RUN: c.run_id,
            reg.VTAG_TRAIN_RUN: c.train_run_id,
            reg.VTAG_EXPERIMENT: c.experiment,
            reg.VTAG_FINAL_NRMSE: r.final_nrmse,
            reg.VTAG_ONE_STEP_NRMSE: c.metric("one_step_nrmse"),
            reg.VTAG_DATA_HASH: data_hash,
            reg.VTAG_CONFIG_HASH: config_hash,
            reg.VTAG_GATES_PASSED: c.tag(tracking.TAG_GATES_PASSED),
            reg.VTAG_PROMOTED_AT: _now(),
            reg.VTAG_PROMOTED_BY: "auto" if self.auto else "cli",
        }
        description = (
            f"Run {c.run_id} of experiment {c.experiment}: final_nrmse={fmt(r.final_nrmse)}, "
            f"one_step_nrmse={fmt(c.metric('one_step_nrmse'))} on data {data_hash}; "
            f"config {config_hash}; gates passed; promoted {_now()}."
        )
        mv = self.client.create_model_version(
            self.name,
            source=f"models:/{c.model_id}",
            run_id=c.train_run_id,
            tags={k: str(v) for k, v in tags.items() if v is not None},
            description=description,
            model_id=c.model_id,
        )
        version = str(mv.version)
        undo.push(
            f"version {version} deleted",
            lambda: self.client.delete_model_version(self.name, version),
        )
        return version

    def _aliases(self, undo: _Undo, version: str) -> None:
        old = reg.read_alias_state(self.client, self.name)
        new = reg.AliasState(version, old.champion, [*(old.history or []), version])
        if old.champion is not None and not old.history:
            new = reg.AliasState(version, old.champion, [old.champion, version])
        undo.push(
            f"alias {reg.ALIAS_CHAMPION} back on {old.champion or 'nothing'}",
            lambda: reg.write_alias_state(self.client, self.name, old),
        )
        reg.write_alias_state(self.client, self.name, new)

    def _stage(self, undo: _Undo, version: str) -> None:
        if not reg.stages_supported(self.client):
            self.result.notes.append("this MLflow has no model stages; --stage ignored")
            return
        self.result.notes.append(reg.STAGE_NOTE)
        old = reg.stages_of(self.client, self.name)
        undo.push("stages restored", lambda: reg.restore_stages(self.client, self.name, old))
        reg.set_production(self.client, self.name, version)

    def _write_config(self, undo: _Undo, version: str) -> None:
        c, r = self.cand, self.result
        path = r.config_path
        assert path is not None and c.config_text is not None
        exp_id = c.run.info.experiment_id
        header = [
            f"# Production config {path.name}, written by `unisim promote` on {_now()}.",
            f"# Source run: {c.run_id} (experiment {c.experiment})",
            f"#   {tracking.run_url(self.target, exp_id, c.run_id)}",
            f"# Train run: {c.train_run_id}",
            f"# Model: {self.name} version {version} (models:/{self.name}/{version}), "
            f"alias {reg.ALIAS_CHAMPION}",
            f"# Metrics: final_nrmse={fmt(r.final_nrmse)} "
            f"one_step_nrmse={fmt(c.metric('one_step_nrmse'))}",
            f"# Hashes: config {c.tag(tracking.TAG_CONFIG_HASH)}, data "
            f"{c.tag(tracking.TAG_DATA_HASH)}",
        ]
        _make_parent(undo, path)
        old = _read_bytes(path)
        undo.push(
            f"{path} {'restored' if old is not None else 'removed'}",
            lambda: _restore_file(path, old),
        )
        body = c.config_text if c.config_text.endswith("\n") else c.config_text + "\n"
        fsutil.atomic_write_text(path, "\n".join(header) + "\n" + body)

    def _tag_runs(self, undo: _Undo, version: str) -> None:
        new = {
            tracking.TAG_STATUS: tracking.STATUS_PROMOTED,
            tracking.TAG_MODEL_VERSION: version,
            tracking.TAG_MODEL_NAME: self.name,
        }
        for run_id in self.runs:
            old = self.client.get_run(run_id).data.tags
            before = {k: old.get(k) for k in RUN_TAGS}
            undo.push(
                f"tags of run {run_id} restored", lambda r=run_id, b=before: self._retag(r, b)
            )
            for key, value in new.items():
                self.client.set_tag(run_id, key, value)

    def _retag(self, run_id: str, tags: dict[str, str | None]) -> None:
        for key, value in tags.items():
            if value is None:
                self.client.delete_tag(run_id, key)
            else:
                self.client.set_tag(run_id, key, value)

    def _metadata(self, undo: _Undo, version: str) -> None:
        path = self.metadata
        assert path is not None
        old = _read_bytes(path)
        undo.push(f"{path} restored", lambda: _restore_file(path, old))
        c, r = self.cand, self.result
        record = {
            "model_name": self.name,
            "model_version": version,
            "run_id": c.run_id,
            "train_run_id": c.train_run_id,
            "final_nrmse": r.final_nrmse,
            "one_step_nrmse": c.metric("one_step_nrmse"),
            "data_hash": c.tag(tracking.TAG_DATA_HASH),
            "config_path": str(r.config_path),
            "promoted_at": _now(),
            "promoted_by": "auto" if self.auto else "cli",
        }
        history = (fsutil.read_json(path, default={}) or {}).get("promotions", [])
        fsutil.update_json(path, {"promotion": record, "promotions": [*history, record]})

    def _leaderboard(self, undo: _Undo) -> None:
        from unisim.lifecycle.leaderboard import write_leaderboard

        for path in self.leaderboard:
            _make_parent(undo, path)
            old = _read_bytes(path)
            undo.push(f"{path} restored", lambda p=path, o=old: _restore_file(p, o))
        write_leaderboard(self.target, csv=self.csv, html=self.html, client=self.client)
