"""Promote a run: validate -> register -> champion alias -> production config -> records.

    result = promote("experiments/2026-11-29-64dim-latent", target=target, nrmse_threshold=0.1)
    result = promote_run(run_id, target=target, auto=True)   # the pipeline's --auto-promote
    result.promoted, result.version, result.steps, result.checks

Validation is checks.py; a refusal raises ``PromotionRefused`` (exit 1) and changes
nothing; with ``auto=True`` it is returned instead (``result.promoted is False``).
Registry, config file, run tags, metadata.json and leaderboard exports change as one
``Transaction`` (plan.py) under the promotion lease (lock.py: a lease in the registry
itself, so promotions from any machine take turns; renewed before every step): a
failure part-way undoes every step already done and says so. ``dry_run`` validates
and lists the steps, writing nothing.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from unisim import tracking as T
from unisim.errors import CheckFailed, UnisimError
from unisim.registry import plan as P
from unisim.registry.candidates import (
    Candidate,
    check_production_path,
    gather,
    production_name,
    resolve_target,
)
from unisim.registry.checks import Check, validate
from unisim.registry.lock import registry_lock
from unisim.registry.rivals import rival_check

log = logging.getLogger(__name__)

DEFAULT_PRODUCTION_DIR = "configs"
DEFAULT_MODEL_NAME = "burgers-surrogate"


@dataclass
class PromotionResult:
    """What a promotion checked, and the steps it did (or, in a dry run, would do)."""

    run_id: str
    train_run_id: str | None
    experiment: str
    model_name: str
    final_nrmse: float | None
    config_path: Path | None
    checks: list[Check] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # e.g. a better run of the protocol
    promoted: bool = False
    dry_run: bool = False
    version: str | None = None  # the model version (None in a dry run of a new one)
    previous_champion: str | None = None
    url: str = ""  # registry UI link

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    @property
    def reason(self) -> str:
        return "; ".join(f"{c.name}: {c.detail}" for c in self.failed)


class PromotionRefused(CheckFailed):
    """A validation check said no (exit 1); nothing was changed."""

    def __init__(self, result: PromotionResult) -> None:
        super().__init__(f"promotion of run {result.run_id} refused: {result.reason}")
        self.result = result


def promote(
    spec: str | None,
    *,
    target: T.TrackingTarget,
    run_id: str | None = None,
    best: str | None = None,
    **options: Any,
) -> PromotionResult:
    """Promote TARGET (experiment folder, experiment name or run id), ``run_id``, or
    ``best``: the leaderboard's best run of that experiment.

    ``options`` are ``promote_run``'s keyword arguments.
    """
    if best is not None:
        from unisim.registry.rivals import leaderboard_best

        run_id = leaderboard_best(target, best)
    run, folder = resolve_target(T.connect(target), spec, run_id)
    return promote_run(run.info.run_id, target=target, folder=folder, **options)


def promote_run(
    run_id: str,
    *,
    target: T.TrackingTarget,
    nrmse_threshold: float | None = None,
    force: bool = False,
    dry_run: bool = False,
    config_name: str | None = None,
    production_dir: str | Path = DEFAULT_PRODUCTION_DIR,
    stage: bool = False,
    model_name: str | None = None,
    update_leaderboard: bool | None = None,
    leaderboard_csv: str | Path | None = None,
    leaderboard_html: str | Path | None = None,
    auto: bool = False,
    folder: Path | None = None,
    strict: bool = False,
) -> PromotionResult:
    """Validate and promote one run; see the module docstring for the rules.

    ``auto=True`` (the pipeline) returns a refused result instead of raising and
    accepts a pipeline run that is still RUNNING (the pipeline calls it last).
    A gates-passed run of the same protocol with a lower final_nrmse is a warning
    (``result.warnings``), or with ``strict`` a failed check (rivals.py).
    Leaderboard exports: ``update_leaderboard`` None rewrites this store's default exports
    (reports/leaderboard.csv, .html for the default store) that exist, True writes them,
    False none;
    ``leaderboard_csv`` / ``leaderboard_html`` name further exports to rewrite.
    """
    store = T.connect(target)
    cand = gather(store, store.get_run(run_id), folder)
    name = model_name or _config_model_name(cand)
    with contextlib.nullcontext() if dry_run else registry_lock(target, name) as lease:
        # The champion is read inside the lease: it cannot move under us.
        path = Path(production_dir) / f"train_{production_name(cand, config_name)}.yaml"
        result = PromotionResult(
            run_id=cand.run_id,
            train_run_id=cand.train_run_id,
            experiment=cand.experiment,
            model_name=name,
            final_nrmse=cand.metric(T.FINAL_NRMSE),
            config_path=path,
            dry_run=dry_run,
            url=T.model_url(target, name),
        )
        try:
            check_production_path(path)
        except UnisimError as exc:
            if not auto:
                raise
            result.checks = [Check("production_config", False, str(exc))]
            return result
        state = store.alias_state(name)
        existing = store.version_for_run(name, cand.run_id)
        result.checks = validate(
            store,
            cand,
            model_name=name,
            final_nrmse=result.final_nrmse,
            config_path=path,
            state=state,
            existing=existing,
            threshold=nrmse_threshold,
            force=force,
            auto=auto,
        )
        rival, warning = rival_check(target, cand, result.final_nrmse, strict=strict)
        result.checks += [rival] if rival is not None else []
        result.warnings += [warning] if warning else []
        if result.failed:
            log.info("promotion refused: %s", result.reason)
            if auto:
                return result
            raise PromotionRefused(result)
        plan = _Promotion(store, cand, result, state, existing, stage, auto)
        plan.csv, plan.html = P.exports(
            update_leaderboard, leaderboard_csv, leaderboard_html, target=target
        )
        if dry_run:
            result.steps = plan.describe()
            return result
        plan.execute(lease.renew)
        return result


def _config_model_name(cand: Candidate) -> str:
    section = (cand.config or {}).get("registry") or {}
    return str(section.get("model_name") or DEFAULT_MODEL_NAME)


def promotion_record(cand: Candidate, result: PromotionResult, version: str, by: str) -> dict:
    """The entry metadata.json keeps for a promotion."""
    return {
        "model_name": result.model_name,
        "model_version": version,
        "run_id": cand.run_id,
        "train_run_id": cand.train_run_id,
        "final_nrmse": result.final_nrmse,
        "one_step_nrmse": cand.metric(T.ONE_STEP_NRMSE),
        "data_hash": cand.tag(T.TAG_DATA_HASH),
        "config_path": str(result.config_path),
        "promoted_at": P.now_iso(),
        "promoted_by": by,
    }


class _Promotion:
    """The promotion's steps: ``describe`` lists them, ``execute`` does them as one unit."""

    def __init__(
        self,
        store: T.Store,
        cand: Candidate,
        result: PromotionResult,
        state: T.AliasState,
        existing: Any,
        stage: bool,
        auto: bool,
    ) -> None:
        self.store, self.cand, self.result = store, cand, result
        self.state, self.existing, self.stage, self.auto = state, existing, stage, auto
        self.name = result.model_name
        self.csv: Path | None = None
        self.html: Path | None = None
        self.runs = [cand.run_id] + (
            [cand.train_run_id] if cand.train_run_id not in (None, cand.run_id) else []
        )
        self.metadata = cand.folder / "metadata.json" if cand.folder is not None else None
        self.model_exists = store.registered_model(self.name) is not None

    @property
    def exports(self) -> list[Path]:
        return [p for p in (self.csv, self.html) if p]

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
        steps.append(f"set alias {T.ALIAS_CHAMPION} -> {label}{was}")
        if state.champion:
            steps.append(f"set alias {T.ALIAS_PREVIOUS} -> version {state.champion}")
        if self.stage:
            steps.append(f"transition {label} to {T.STAGE_PRODUCTION}, archiving the previous")
        steps.append(f"write {r.config_path} (source run {r.run_id}, {label})")
        steps.append(
            f"tag run(s) {', '.join(self.runs)}: unisim.status=promoted, "
            f"unisim.model_version={v or '<new>'}"
        )
        if self.metadata is not None:
            steps.append(f"record the promotion in {self.metadata}")
        steps.extend(f"rewrite leaderboard export {p}" for p in self.exports)
        return steps

    def execute(self, before_step: Any = None) -> None:
        tx = P.Transaction(f"promotion of run {self.cand.run_id}", before_step=before_step)
        box: dict[str, str] = {}
        steps = [
            ("register", lambda: box.setdefault("v", self._register(tx))),
            ("aliases", lambda: self._aliases(tx, box["v"])),
        ]
        if self.stage:
            steps.append(
                ("stage", lambda: P.move_stage(tx, self.store, self.name, box["v"], self.notes))
            )
        steps.append(("production config", lambda: self._write_config(tx, box["v"])))
        steps.append(("run tags", lambda: self._tag_runs(tx, box["v"])))
        if self.metadata is not None:
            steps.append(("metadata.json", lambda: self._metadata(tx, box["v"])))
        if self.exports:
            steps.append(
                ("leaderboard", lambda: P.rewrite_leaderboard(tx, self.store, self.csv, self.html))
            )
        tx.run(steps)
        version = box["v"]
        self.result.version = version
        self.result.promoted = True
        self.result.previous_champion = self.state.champion
        self.result.steps = self.describe(version)
        self.result.url = T.version_url(self.store.target, self.name, version)
        log.info("promoted run %s as %s version %s", self.cand.run_id, self.name, version)

    @property
    def notes(self) -> list[str]:
        return self.result.notes

    def _register(self, tx: P.Transaction) -> str:
        if self.existing is not None:
            return str(self.existing.version)
        if not self.model_exists and self.store.create_registered_model(
            self.name, "Neural PDE surrogate; alias 'champion' is production."
        ):
            tx.push(
                f"registered model {self.name!r} deleted",
                lambda: self.store.delete_registered_model(self.name),
            )
        c, r = self.cand, self.result
        data_hash = c.tag(T.TAG_DATA_HASH)
        config_hash = c.tag(T.TAG_CONFIG_HASH)
        tags = {
            T.VTAG_RUN: c.run_id,
            T.VTAG_TRAIN_RUN: c.train_run_id,
            T.VTAG_EXPERIMENT: c.experiment,
            T.VTAG_FINAL_NRMSE: r.final_nrmse,
            T.VTAG_ONE_STEP_NRMSE: c.metric(T.ONE_STEP_NRMSE),
            T.VTAG_DATA_HASH: data_hash,
            T.VTAG_CONFIG_HASH: config_hash,
            T.VTAG_GATES_PASSED: c.tag(T.TAG_GATES_PASSED),
            T.VTAG_PROMOTED_AT: P.now_iso(),
            T.VTAG_PROMOTED_BY: "auto" if self.auto else "cli",
            T.VTAG_PRODUCTION_CONFIG: str(r.config_path),
            T.VTAG_PROTOCOL: c.tag(T.TAG_PROTOCOL),
            T.VTAG_PROTOCOL_SUMMARY: c.tag(T.TAG_PROTOCOL_SUMMARY),
        }
        description = (
            f"Run {c.run_id} of experiment {c.experiment}: final_nrmse={P.fmt(r.final_nrmse)}, "
            f"one_step_nrmse={P.fmt(c.metric(T.ONE_STEP_NRMSE))} on data {data_hash}; "
            f"config {config_hash}; gates passed; promoted {P.now_iso()}."
        )
        assert c.model_id is not None  # validated
        version = self.store.create_model_version(
            self.name,
            model_id=c.model_id,
            run_id=c.train_run_id,
            tags=tags,
            description=description,
        )
        tx.push(
            f"version {version} deleted",
            lambda: self.store.delete_model_version(self.name, version),
        )
        return version

    def _aliases(self, tx: P.Transaction, version: str) -> None:
        old = self.store.alias_state(self.name)
        history = old.history or ([old.champion] if old.champion else [])
        new = T.AliasState(version, old.champion, [*history, version])
        P.move_aliases(tx, self.store, self.name, new)

    def _write_config(self, tx: P.Transaction, version: str) -> None:
        c, r = self.cand, self.result
        assert r.config_path is not None and c.config_text is not None
        header = P.production_header(
            self.store,
            path=r.config_path,
            run=c.run,
            experiment=c.experiment,
            train_run_id=c.train_run_id,
            model_name=self.name,
            version=version,
            metrics={T.FINAL_NRMSE: r.final_nrmse, T.ONE_STEP_NRMSE: c.metric(T.ONE_STEP_NRMSE)},
            why="unisim promote",
        )
        body = c.config_text if c.config_text.endswith("\n") else c.config_text + "\n"
        P.write_file(tx, r.config_path, header + body)

    def _tag_runs(self, tx: P.Transaction, version: str) -> None:
        tags = {
            **T.status_tags(T.Status.PROMOTED),
            T.TAG_MODEL_VERSION: version,
            T.TAG_MODEL_NAME: self.name,
        }
        P.retag_runs(tx, self.store, self.runs, tags)
        # The run's description (the pipeline's summary page) names its registered version.
        note = self.cand.run.data.tags.get(T.MLFLOW_NOTE_TAG, "")
        url = T.version_url(self.store.target, self.name, version)
        url = url[url.index("#") :]  # relative: right on whatever host serves the UI
        text = P.registered_note(note, self.name, version, url, P.now_iso())
        P.retag_runs(tx, self.store, [self.cand.run_id], {T.MLFLOW_NOTE_TAG: text})

    def _metadata(self, tx: P.Transaction, version: str) -> None:
        assert self.metadata is not None
        record = promotion_record(self.cand, self.result, version, "auto" if self.auto else "cli")

        def change(data: dict) -> dict:
            return {
                **data,
                "promotion": record,
                "promotions": [*data.get("promotions", []), record],
            }

        P.update_metadata(tx, self.metadata, change)
