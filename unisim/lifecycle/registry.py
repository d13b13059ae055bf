"""The MLflow Model Registry as the record of champions: aliases, history, stages, rollback.

    rows = list_models(target)                         # registered models + their champion
    info = show_model(target, "burgers-surrogate")     # versions, aliases, history
    result = rollback(target, "burgers-surrogate")     # champion -> previous-champion

The alias ``champion`` points at the production version and ``previous-champion``
at the one it replaced. The registered model's tag ``unisim.champion_history``
keeps the order of champions (``"1,3,5"``) so that rolling back twice walks back
twice. Stages (``Production``) are deprecated since MLflow 2.9; they are set
only on request, and the warning MLflow raises is turned into one note.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from unisim import tracking
from unisim.errors import UnisimError
from unisim.tracking import TrackingTarget

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion, RegisteredModel

log = logging.getLogger(__name__)

DEFAULT_MODEL_NAME = "burgers-surrogate"
ALIAS_CHAMPION = "champion"
ALIAS_PREVIOUS = "previous-champion"
STAGE_PRODUCTION = "Production"
TAG_HISTORY = "unisim.champion_history"  # registered-model tag: "1,3,5", oldest first
HISTORY_LIMIT = 200

# Version tags: what the version was measured on, so champions compare like with like.
VTAG_RUN = "unisim.run_id"  # the promoted (pipeline) run
VTAG_TRAIN_RUN = "unisim.train_run"  # the run that logged the model
VTAG_EXPERIMENT = "unisim.experiment"
VTAG_FINAL_NRMSE = "unisim.final_nrmse"
VTAG_ONE_STEP_NRMSE = "unisim.one_step_nrmse"
VTAG_CONFIG_HASH = tracking.TAG_CONFIG_HASH
VTAG_DATA_HASH = tracking.TAG_DATA_HASH
VTAG_GATES_PASSED = tracking.TAG_GATES_PASSED
VTAG_PROMOTED_AT = "unisim.promoted_at"
VTAG_PROMOTED_BY = "unisim.promoted_by"  # cli | auto

STAGE_NOTE = (
    "model stages are deprecated since MLflow 2.9 (the 'champion' alias is the supported "
    "pointer); the stage is set for older tools only"
)


def is_missing(exc: Exception) -> bool:
    """True for MLflow's 'no such model / version / alias' errors."""
    code = getattr(exc, "error_code", "")
    return code == "RESOURCE_DOES_NOT_EXIST" or "not found" in str(exc).lower()


def get_model(client: MlflowClient, name: str) -> RegisteredModel | None:
    from mlflow.exceptions import MlflowException

    try:
        return client.get_registered_model(name)
    except MlflowException as exc:
        if is_missing(exc):
            return None
        raise


def aliases_of(model: RegisteredModel | None) -> dict[str, str]:
    """``{alias: version}`` of a registered model ({} when it does not exist)."""
    return {k: str(v) for k, v in (model.aliases or {}).items()} if model else {}


def model_versions(client: MlflowClient, name: str) -> list[ModelVersion]:
    """All versions of ``name``, oldest first."""
    found, token = [], None
    while True:
        page = client.search_model_versions(
            f"name = '{_quote(name)}'", max_results=1000, page_token=token
        )
        found.extend(page)
        token = page.token
        if not token:
            break
    return sorted(found, key=lambda mv: int(mv.version))


def version_for_run(client: MlflowClient, name: str, run_id: str) -> ModelVersion | None:
    """The version registered from ``run_id`` (promoted or train run), if any."""
    for mv in model_versions(client, name):
        if run_id in (mv.tags.get(VTAG_RUN), mv.run_id):
            return mv
    return None


def history_of(model: RegisteredModel | None) -> list[str]:
    raw = (model.tags or {}).get(TAG_HISTORY, "") if model else ""
    return [v for v in raw.split(",") if v]


def _quote(value: str) -> str:
    return value.replace("'", "\\'")


def version_url(target: TrackingTarget, name: str, version: str) -> str:
    return f"{tracking.model_url(target, name)}/versions/{version}"


# ---------------------------------------------------------------- alias state


@dataclass(frozen=True)
class AliasState:
    """What promotion and rollback change on a registered model (to restore it on failure)."""

    champion: str | None
    previous: str | None
    history: list[str]


def read_alias_state(client: MlflowClient, name: str) -> AliasState:
    model = get_model(client, name)
    aliases = aliases_of(model)
    return AliasState(aliases.get(ALIAS_CHAMPION), aliases.get(ALIAS_PREVIOUS), history_of(model))


def write_alias_state(client: MlflowClient, name: str, state: AliasState) -> None:
    """Point the aliases and history tag exactly as ``state`` says (deleting absent ones)."""
    for alias, version in ((ALIAS_CHAMPION, state.champion), (ALIAS_PREVIOUS, state.previous)):
        if version is None:
            _delete_alias(client, name, alias)
        else:
            client.set_registered_model_alias(name, alias, version)
    history = ",".join(state.history[-HISTORY_LIMIT:])
    if history:
        client.set_registered_model_tag(name, TAG_HISTORY, history)
    else:
        with contextlib.suppress(Exception):
            client.delete_registered_model_tag(name, TAG_HISTORY)


def _delete_alias(client: MlflowClient, name: str, alias: str) -> None:
    from mlflow.exceptions import MlflowException

    try:
        client.delete_registered_model_alias(name, alias)
    except MlflowException as exc:
        if not is_missing(exc):
            raise


# ---------------------------------------------------------------- stages (deprecated)


def stages_supported(client: MlflowClient) -> bool:
    return hasattr(client, "transition_model_version_stage")


@contextlib.contextmanager
def _quiet_stage_warnings() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


def stages_of(client: MlflowClient, name: str) -> dict[str, str]:
    """``{version: stage}`` for every version of ``name``."""
    return {str(mv.version): mv.current_stage or "None" for mv in model_versions(client, name)}


def set_production(client: MlflowClient, name: str, version: str) -> None:
    """Transition ``version`` to Production, archiving the versions there now."""
    with _quiet_stage_warnings():
        client.transition_model_version_stage(
            name, version, STAGE_PRODUCTION, archive_existing_versions=True
        )


def restore_stages(client: MlflowClient, name: str, stages: dict[str, str]) -> None:
    """Put each version back in the stage ``stages`` names (undo of ``set_production``)."""
    now = stages_of(client, name)
    with _quiet_stage_warnings():
        for version, stage in stages.items():
            if version in now and now[version] != stage:
                client.transition_model_version_stage(name, version, stage)


# ---------------------------------------------------------------- commands


def list_models(target: TrackingTarget) -> list[dict[str, Any]]:
    """One row per registered model: name, versions, champion and its final_nrmse, link."""
    client = tracking.configure(target)
    rows, token = [], None
    while True:
        page = client.search_registered_models(max_results=100, page_token=token)
        for model in page:
            aliases = aliases_of(model)
            champ = aliases.get(ALIAS_CHAMPION)
            champ_nrmse = None
            if champ is not None:
                champ_nrmse = client.get_model_version(model.name, champ).tags.get(VTAG_FINAL_NRMSE)
            latest = max((int(v.version) for v in model.latest_versions or []), default=None)
            rows.append(
                {
                    "name": model.name,
                    "latest_version": str(latest) if latest is not None else None,
                    "champion": champ,
                    "previous_champion": aliases.get(ALIAS_PREVIOUS),
                    "champion_final_nrmse": champ_nrmse,
                    "url": tracking.model_url(target, model.name),
                }
            )
        token = page.token
        if not token:
            break
    return sorted(rows, key=lambda r: r["name"])


def _version_row(mv: ModelVersion, aliases: dict[str, str]) -> dict[str, Any]:
    version = str(mv.version)
    return {
        "version": version,
        "aliases": sorted(a for a, v in aliases.items() if v == version),
        "stage": mv.current_stage,
        "run_id": mv.tags.get(VTAG_RUN),
        "train_run": mv.run_id,
        "experiment": mv.tags.get(VTAG_EXPERIMENT),
        "final_nrmse": mv.tags.get(VTAG_FINAL_NRMSE),
        "one_step_nrmse": mv.tags.get(VTAG_ONE_STEP_NRMSE),
        "data_hash": mv.tags.get(VTAG_DATA_HASH),
        "config_hash": mv.tags.get(VTAG_CONFIG_HASH),
        "promoted_at": mv.tags.get(VTAG_PROMOTED_AT),
        "source": mv.source,
        "description": mv.description,
        "tags": dict(mv.tags),
    }


def show_model(target: TrackingTarget, name: str, version: str | None = None) -> dict[str, Any]:
    """A registered model (all versions) or one version of it, with aliases and history."""
    client = tracking.configure(target)
    model = get_model(client, name)
    if model is None:
        raise UnisimError(f"registered model {name!r} not found in {target.uri}")
    aliases = aliases_of(model)
    versions = [_version_row(mv, aliases) for mv in model_versions(client, name)]
    info: dict[str, Any] = {
        "name": name,
        "description": model.description,
        "aliases": aliases,
        "history": history_of(model),
        "url": tracking.model_url(target, name),
    }
    if version is None:
        info["versions"] = versions
        return info
    match = [v for v in versions if v["version"] == str(version)]
    if not match:
        raise UnisimError(f"registered model {name!r} has no version {version}")
    info["version"] = match[0]
    info["url"] = version_url(target, name, str(version))
    return info


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


def rollback(
    target: TrackingTarget,
    name: str = DEFAULT_MODEL_NAME,
    to_version: str | None = None,
    dry_run: bool = False,
) -> RollbackResult:
    """Move ``champion`` back to ``previous-champion`` (or to ``to_version``).

    A plain rollback walks the champion history back one step, so rolling back
    twice goes back two champions. ``--to V`` makes V champion and keeps the
    current one as ``previous-champion``. The Production stage follows the
    champion when the current champion holds it.
    """
    from unisim.lifecycle.lock import registry_lock

    client = tracking.configure(target)
    lock = contextlib.nullcontext() if dry_run else registry_lock(target)
    with lock:
        model = get_model(client, name)
        if model is None:
            raise UnisimError(f"registered model {name!r} not found in {target.uri}")
        state = read_alias_state(client, name)
        if state.champion is None:
            raise UnisimError(f"registered model {name!r} has no champion to roll back")
        known = {str(mv.version): mv for mv in model_versions(client, name)}
        history = state.history or [state.champion]
        if to_version is not None:
            new = str(to_version)
            if new not in known:
                raise UnisimError(f"registered model {name!r} has no version {new}")
            if new == state.champion:
                raise UnisimError(f"version {new} of {name!r} is already the champion")
            new_state = AliasState(new, state.champion, [*history, new])
        else:
            if state.previous is None or state.previous not in known:
                raise UnisimError(
                    f"registered model {name!r}: no previous-champion to roll back to "
                    f"(use --to VERSION)"
                )
            new = state.previous
            trimmed = list(history)
            while trimmed and trimmed[-1] != new:
                trimmed.pop()  # drop the champion being rolled back (and anything after new)
            trimmed = trimmed or [new]
            before = [v for v in trimmed[:-1] if v in known and v != new]
            new_state = AliasState(new, before[-1] if before else None, trimmed)
        result = RollbackResult(
            name=name,
            from_version=state.champion,
            to_version=new,
            previous=new_state.previous,
            dry_run=dry_run,
            url=version_url(target, name, new),
        )
        result.steps.append(f"move alias {ALIAS_CHAMPION}: version {state.champion} -> {new}")
        result.steps.append(
            f"set alias {ALIAS_PREVIOUS} -> {new_state.previous}"
            if new_state.previous
            else f"remove alias {ALIAS_PREVIOUS}"
        )
        move_stage = (
            stages_supported(client) and known[state.champion].current_stage == STAGE_PRODUCTION
        )
        if move_stage:
            result.steps.append(f"transition version {new} to {STAGE_PRODUCTION} (stage)")
            result.notes.append(STAGE_NOTE)
        if dry_run:
            return result
        old_stages = stages_of(client, name) if move_stage else {}
        try:
            write_alias_state(client, name, new_state)
            if move_stage:
                set_production(client, name, new)
        except Exception as exc:
            undone = []
            try:
                write_alias_state(client, name, state)
                if old_stages:
                    restore_stages(client, name, old_stages)
                undone.append("aliases and stages restored")
            except Exception as again:  # say so: the registry needs a look
                undone.append(f"COULD NOT restore the aliases ({type(again).__name__}: {again})")
            raise UnisimError(
                f"rollback of {name!r} failed ({type(exc).__name__}: {exc}); {undone[0]}"
            ) from None
        log.info("rolled back %s: champion %s -> %s", name, state.champion, new)
        return result
