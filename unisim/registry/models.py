"""What the Model Registry holds: registered models, their versions, aliases and history.

    rows = list_models(target)                         # registered models + their champion
    info = show_model(target, "burgers-surrogate")     # versions, aliases, history
    info = show_model(target, "burgers-surrogate", "3")

Moving the champion is ``promote`` (promote.py) and ``rollback`` (rollback.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from unisim import tracking as T
from unisim.errors import UnisimError
from unisim.tracking.registry import aliases_of, history_of

if TYPE_CHECKING:
    from unisim.tracking.entities import ModelVersion


def list_models(target: T.TrackingTarget) -> list[dict[str, Any]]:
    """One row per registered model: name, versions, champion and its final_nrmse, link."""
    store = T.connect(target)
    rows = []
    for model in store.registered_models():
        aliases = aliases_of(model)
        champ = aliases.get(T.ALIAS_CHAMPION)
        champ_nrmse = None
        if champ is not None:
            champ_nrmse = store.model_version(model.name, champ).tags.get(T.VTAG_FINAL_NRMSE)
        latest = max((int(v.version) for v in model.latest_versions or []), default=None)
        rows.append(
            {
                "name": model.name,
                "latest_version": str(latest) if latest is not None else None,
                "champion": champ,
                "previous_champion": aliases.get(T.ALIAS_PREVIOUS),
                "champion_final_nrmse": champ_nrmse,
                "url": T.model_url(target, model.name),
            }
        )
    return sorted(rows, key=lambda r: r["name"])


def _version_row(mv: ModelVersion, aliases: dict[str, str]) -> dict[str, Any]:
    version = str(mv.version)
    return {
        "version": version,
        "aliases": sorted(a for a, v in aliases.items() if v == version),
        "stage": mv.current_stage,
        "run_id": mv.tags.get(T.VTAG_RUN),
        "train_run": mv.run_id,
        "experiment": mv.tags.get(T.VTAG_EXPERIMENT),
        "final_nrmse": mv.tags.get(T.VTAG_FINAL_NRMSE),
        "one_step_nrmse": mv.tags.get(T.VTAG_ONE_STEP_NRMSE),
        "data_hash": mv.tags.get(T.VTAG_DATA_HASH),
        "config_hash": mv.tags.get(T.VTAG_CONFIG_HASH),
        "promoted_at": mv.tags.get(T.VTAG_PROMOTED_AT),
        "source": mv.source,
        "description": mv.description,
        "tags": dict(mv.tags),
    }


def show_model(target: T.TrackingTarget, name: str, version: str | None = None) -> dict[str, Any]:
    """A registered model (all versions) or one version of it, with aliases and history."""
    store = T.connect(target)
    model = store.registered_model(name)
    if model is None:
        raise UnisimError(f"registered model {name!r} not found in {target.uri}")
    aliases = aliases_of(model)
    versions = [_version_row(mv, aliases) for mv in store.model_versions(name)]
    info: dict[str, Any] = {
        "name": name,
        "description": model.description,
        "aliases": aliases,
        "history": history_of(model),
        "url": T.model_url(target, name),
    }
    if version is None:
        info["versions"] = versions
        return info
    match = [v for v in versions if v["version"] == str(version)]
    if not match:
        raise UnisimError(f"registered model {name!r} has no version {version}")
    info["version"] = match[0]
    info["url"] = T.version_url(target, name, str(version))
    return info
