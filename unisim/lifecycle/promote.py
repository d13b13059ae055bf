"""Promote a run: validate -> register -> champion alias -> production config -> records.

    result = promote("experiments/2026-11-29-64dim-latent", target=target, nrmse_threshold=0.1)
    result = promote_run(run_id, target=target, auto=True)   # the pipeline's --auto-promote
    result.promoted, result.version, result.steps, result.checks

Validation (each check says why): the run finished, its gates passed, it has a
finite ``final_nrmse`` (under ``nrmse_threshold`` when given), a logged model and
a loadable ``config.yaml``, it is better than the champion measured on the same
data (``--force`` skips that), and the production config is free (or ``--force``).
A refusal raises ``PromotionRefused`` (exit 1) and changes nothing; with
``auto=True`` it is returned instead (``result.promoted is False``).

Registry, config file, run tags, metadata.json and leaderboard exports change
as one unit under a file lock: a failure part-way undoes every step already
done and says so. ``dry_run`` validates and lists the steps, writing nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from unisim import tracking
from unisim.errors import CheckFailed
from unisim.lifecycle import registry as reg
from unisim.lifecycle.candidates import Candidate, gather, production_name, resolve_target
from unisim.lifecycle.promote_steps import Plan, fmt
from unisim.tracking import TrackingTarget

log = logging.getLogger(__name__)

DEFAULT_PRODUCTION_DIR = "configs"


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str


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
    target: TrackingTarget,
    run_id: str | None = None,
    **options: Any,
) -> PromotionResult:
    """Promote TARGET (experiment folder, experiment name or run id) or ``run_id``.

    ``options`` are ``promote_run``'s keyword arguments.
    """
    client = tracking.configure(target)
    run, folder = resolve_target(client, spec, run_id)
    return promote_run(run.info.run_id, target=target, folder=folder, **options)


def promote_run(
    run_id: str,
    *,
    target: TrackingTarget,
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
) -> PromotionResult:
    """Validate and promote one run; see the module docstring for the rules.

    ``auto=True`` (the pipeline) returns a refused result instead of raising and
    accepts a pipeline run that is still RUNNING (the pipeline calls it last).
    Leaderboard exports: ``update_leaderboard`` None rewrites the default exports
    (reports/leaderboard.csv, .html) that exist, True writes them, False none;
    ``leaderboard_csv`` / ``leaderboard_html`` name further exports to rewrite.
    """
    import contextlib

    from unisim.lifecycle.candidates import get_run
    from unisim.lifecycle.lock import registry_lock

    client = tracking.configure(target)
    with contextlib.nullcontext() if dry_run else registry_lock(target):
        # Everything is read inside the lock: the champion cannot move under us.
        cand = gather(client, get_run(client, run_id), folder)
        name = model_name or _config_model_name(cand)
        path = Path(production_dir) / f"train_{production_name(cand, config_name)}.yaml"
        result = PromotionResult(
            run_id=cand.run_id,
            train_run_id=cand.train_run_id,
            experiment=cand.experiment,
            model_name=name,
            final_nrmse=cand.metric("final_nrmse"),
            config_path=path,
            dry_run=dry_run,
            url=tracking.model_url(target, name),
        )
        state = reg.read_alias_state(client, name)
        existing = reg.version_for_run(client, name, cand.run_id)
        result.checks = _validate(
            client, cand, result, state, existing, nrmse_threshold, force, auto
        )
        if result.failed:
            log.info("promotion refused: %s", result.reason)
            if auto:
                return result
            raise PromotionRefused(result)
        plan = Plan(client, target, cand, result, state, existing, stage, auto)
        plan.csv, plan.html = _exports(update_leaderboard, leaderboard_csv, leaderboard_html)
        plan.leaderboard = [Path(p) for p in (plan.csv, plan.html) if p]
        if dry_run:
            result.steps = plan.describe()
            return result
        plan.execute()
        return result


def _exports(
    update: bool | None, csv: str | Path | None, html: str | Path | None
) -> tuple[Path | None, Path | None]:
    from unisim.lifecycle.leaderboard import DEFAULT_CSV, DEFAULT_HTML

    def pick(explicit: str | Path | None, default: str) -> Path | None:
        if explicit:
            return Path(explicit)
        if update or (update is None and Path(default).is_file()):
            return Path(default)
        return None

    return pick(csv, DEFAULT_CSV), pick(html, DEFAULT_HTML)


def _config_model_name(cand: Candidate) -> str:
    section = (cand.config or {}).get("registry") or {}
    return str(section.get("model_name") or reg.DEFAULT_MODEL_NAME)


def _validate(
    client: Any,
    cand: Candidate,
    result: PromotionResult,
    state: reg.AliasState,
    existing: Any,
    threshold: float | None,
    force: bool,
    auto: bool,
) -> list[Check]:
    checks: list[Check] = []
    status = cand.run.info.status
    lifecycle = cand.run.data.tags.get(tracking.TAG_STATUS)
    ok = (status == "FINISHED" or (auto and status == "RUNNING")) and lifecycle not in (
        tracking.STATUS_FAILED,
        tracking.STATUS_ARCHIVED,
    )
    checks.append(Check("run_state", ok, f"run {cand.run_id} is {status} ({lifecycle})"))
    gates = cand.tag(tracking.TAG_GATES_PASSED)
    checks.append(Check("gates_passed", gates == "true", f"unisim.gates_passed={gates}"))
    final = result.final_nrmse
    checks.append(Check("final_nrmse", final is not None, f"final_nrmse={fmt(final)}"))
    if threshold is not None:
        passed = final is not None and final <= threshold
        checks.append(
            Check("nrmse_threshold", passed, f"final_nrmse {fmt(final)} <= {threshold:g}")
        )
    where = f"runs:/{cand.train_run_id}/model" if cand.train_run_id else "no train run found"
    checks.append(Check("model", cand.model_id is not None, f"logged model at {where}"))
    checks.append(
        Check("config", cand.config_error is None, cand.config_error or "config.yaml loads")
    )
    checks.append(_champion_check(client, cand, result, state, existing, force))
    path = result.config_path
    # --auto-promote replaces the experiment's own production config when the run beat the
    # champion (checked above); by hand that takes --force.
    free = path is not None and (force or auto or not path.exists())
    why = "--force" if force else "--auto-promote"
    checks.append(
        Check(
            "production_config",
            free,
            f"{path} {f'will be overwritten ({why})' if path and path.exists() else 'is free'}"
            if free
            else f"{path} exists (use --force to overwrite)",
        )
    )
    return checks


def _champion_check(
    client: Any,
    cand: Candidate,
    result: PromotionResult,
    state: reg.AliasState,
    existing: Any,
    force: bool,
) -> Check:
    name = "better_than_champion"
    if state.champion is None:
        return Check(name, True, f"no champion of {result.model_name!r} yet")
    if existing is not None and str(existing.version) == state.champion:
        return Check(name, False, f"run is already the champion (version {state.champion})")
    champ = client.get_model_version(result.model_name, state.champion)
    ch_data, data = champ.tags.get(reg.VTAG_DATA_HASH), cand.tag(tracking.TAG_DATA_HASH)
    ch_value = champ.tags.get(reg.VTAG_FINAL_NRMSE)
    ch_final = float(ch_value) if ch_value not in (None, "") else None
    forced = " (--force)" if force else ""
    basis = f"data {data}"
    if (not ch_data or ch_data != data) and _cached_final(champ.tags, data) is not None:
        # The gates already evaluated the champion on this run's test data: use that.
        ch_data, ch_final = data, _cached_final(champ.tags, data)
        basis = f"data {data}, champion evaluated by the gates"
    if not ch_data or not data or ch_data != data:
        detail = (
            f"champion v{state.champion} was measured on data {ch_data or 'unknown'}, this run "
            f"on {data or 'unknown'}: not comparable; evaluate both on the same data "
            f"or use --force{forced}"
        )
        return Check(name, force, detail)
    if ch_final is None or result.final_nrmse is None:
        return Check(name, force, f"champion v{state.champion} has no final_nrmse{forced}")
    better = result.final_nrmse < ch_final
    detail = (
        f"final_nrmse {fmt(result.final_nrmse)} {'<' if better else '>='} champion "
        f"v{state.champion}'s {fmt(ch_final)} ({basis}){forced if not better else ''}"
    )
    return Check(name, better or force, detail)


def _cached_final(tags: dict[str, str], data_hash: str | None) -> float | None:
    """The champion's test-split final_nrmse on ``data_hash`` cached by the evaluation gates."""
    import json

    try:
        from unisim.evaluation.champion import CACHE_PREFIX, CACHE_VERSION
    except ImportError:  # evaluation not installed in this build
        return None
    prefix = f"{CACHE_PREFIX}.{CACHE_VERSION}.test."
    for key, raw in tags.items():
        if data_hash and key.startswith(prefix) and key.endswith(f".{data_hash}"):
            try:
                value = float(json.loads(raw)["metrics"]["final_nrmse"])
            except (ValueError, KeyError, TypeError):
                continue
            return value if value == value else None  # NaN: not comparable
    return None
