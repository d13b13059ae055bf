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
from unisim.tracking import views as V

if TYPE_CHECKING:
    from unisim.tracking.views import VersionView


def _number(value: Any) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def list_models(target: T.TrackingTarget) -> list[dict[str, Any]]:
    """One row per registered model: name, versions, champion and its final_nrmse, link."""
    reg = V.registry(target)
    rows = []
    for model in reg.models.values():
        versions = reg.versions_of(model.name)
        champ = model.aliases.get(T.ALIAS_CHAMPION)
        champ_nrmse = None
        for v in versions:
            if v.version == champ:
                champ_nrmse = _number(v.tags.get(T.VTAG_FINAL_NRMSE))
        latest = max((int(v.version) for v in versions), default=None)
        rows.append(
            {
                "name": model.name,
                "latest_version": str(latest) if latest is not None else None,
                "champion": champ,
                "previous_champion": model.aliases.get(T.ALIAS_PREVIOUS),
                "champion_final_nrmse": champ_nrmse,
                "url": T.model_url(target, model.name),
            }
        )
    return sorted(rows, key=lambda r: r["name"])


def _version_row(mv: VersionView, aliases: dict[str, str]) -> dict[str, Any]:
    version = str(mv.version)
    return {
        "version": version,
        "aliases": sorted(a for a, v in aliases.items() if v == version),
        "stage": mv.current_stage,
        "run_id": mv.tags.get(T.VTAG_RUN),
        "train_run": mv.run_id,
        "experiment": mv.tags.get(T.VTAG_EXPERIMENT),
        "final_nrmse": _number(mv.tags.get(T.VTAG_FINAL_NRMSE)),
        "one_step_nrmse": _number(mv.tags.get(T.VTAG_ONE_STEP_NRMSE)),
        "data_hash": mv.tags.get(T.VTAG_DATA_HASH),
        "config_hash": mv.tags.get(T.VTAG_CONFIG_HASH),
        "promoted_at": mv.tags.get(T.VTAG_PROMOTED_AT),
        "source": mv.source,
        "description": mv.description,
        "tags": dict(mv.tags),
    }


def show_model(target: T.TrackingTarget, name: str, version: str | None = None) -> dict[str, Any]:
    """A registered model (all versions) or one version of it, with aliases and history."""
    reg = V.registry(target)
    model = reg.models.get(name)
    if model is None:
        raise UnisimError(f"registered model {name!r} not found in {T.redact_uri(target.uri)}")
    history = [v for v in model.tags.get(T.TAG_CHAMPION_HISTORY, "").split(",") if v]
    versions = [_version_row(mv, model.aliases) for mv in reg.versions_of(name)]
    info: dict[str, Any] = {
        "name": name,
        "description": model.description,
        "aliases": dict(model.aliases),
        "history": history,
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
