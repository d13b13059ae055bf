"""The MLflow Model Registry as unisim uses it: one champion reader, one alias writer.

    champ = store.champion("burgers-surrogate")        # Champion or None
    state = store.alias_state(name)                    # champion, previous-champion, history
    store.write_alias_state(name, AliasState("5", "3", ["1", "3", "5"]))
    mv = store.resolve_model_version("models:/burgers-surrogate@champion")
    store.champion_cache(champ, key); store.write_champion_cache(champ, key, payload)

The alias ``champion`` points at the production version and ``previous-champion``
at the one it replaced; the registered-model tag ``unisim.champion_history`` keeps
their order (``"1,3,5"``). Stages (``Production``) are deprecated since MLflow 2.9
and set only on request.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from unisim.errors import UnisimError
from unisim.tracking.queries import quote
from unisim.tracking.schema import (
    ALIAS_CHAMPION,
    ALIAS_PREVIOUS,
    STAGE_PRODUCTION,
    TAG_CHAMPION_HISTORY,
    VTAG_RUN,
)

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion, RegisteredModel

log = logging.getLogger(__name__)

HISTORY_LIMIT = 200
REGISTRY_URI_RE = re.compile(r"^models:/(?P<name>[^/@]+)(?:@(?P<alias>[^/@]+)|/(?P<version>\d+))$")


def is_missing(exc: Exception) -> bool:
    """True for MLflow's 'no such model / version / alias' errors."""
    code = getattr(exc, "error_code", "")
    return code in ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND") or "not found" in str(exc).lower()


@dataclass(frozen=True)
class Champion:
    """The model version under the ``champion`` alias."""

    name: str
    version: str
    run_id: str | None  # the run that logged the model
    tags: dict[str, str]

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"

    @property
    def label(self) -> str:
        return f"champion v{self.version}"


@dataclass(frozen=True)
class AliasState:
    """What promotion and rollback change on a registered model (to restore it on failure)."""

    champion: str | None
    previous: str | None
    history: list[str]


def aliases_of(model: RegisteredModel | None) -> dict[str, str]:
    """``{alias: version}`` of a registered model ({} when it does not exist)."""
    return {k: str(v) for k, v in (model.aliases or {}).items()} if model else {}


def history_of(model: RegisteredModel | None) -> list[str]:
    raw = (model.tags or {}).get(TAG_CHAMPION_HISTORY, "") if model else ""
    return [v for v in raw.split(",") if v]


@contextlib.contextmanager
def _quiet_stage_warnings() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


class Registry:
    """Registered models, versions, aliases and the champion cache (a mixin of ``Store``)."""

    client: MlflowClient

    # ------------------------------------------------------------ reading
    def registered_model(self, name: str) -> RegisteredModel | None:
        from mlflow.exceptions import MlflowException

        try:
            return self.client.get_registered_model(name)
        except MlflowException as exc:
            if is_missing(exc):
                return None
            raise

    def registered_models(self) -> list[RegisteredModel]:
        """Every registered model but the promotion leases (lease.py)."""
        from mlflow.utils import get_results_from_paginated_fn

        from unisim.tracking.lease import is_lease

        found = get_results_from_paginated_fn(
            lambda n, token: self.client.search_registered_models(max_results=n, page_token=token),
            100,
        )
        return [m for m in found if not is_lease(m.name)]

    def model_versions(self, name: str | None = None) -> list[ModelVersion]:
        """Every version of ``name`` (of every model when None), oldest first."""
        from mlflow.utils import get_results_from_paginated_fn

        flt = f"name = '{quote(name)}'" if name else None
        found = get_results_from_paginated_fn(
            lambda n, token: self.client.search_model_versions(
                flt, max_results=n, page_token=token
            ),
            1000,
        )
        return sorted(found, key=lambda mv: (mv.name, int(mv.version)))

    def model_version(self, name: str, version: str) -> ModelVersion:
        return self.client.get_model_version(name, str(version))

    def version_by_alias(self, name: str, alias: str) -> ModelVersion | None:
        from mlflow.exceptions import MlflowException

        try:
            return self.client.get_model_version_by_alias(name, alias)
        except MlflowException as exc:
            code = getattr(exc, "error_code", "")
            if code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE", "NOT_FOUND"):
                return None
            raise

    def resolve_model_version(self, source: str) -> ModelVersion:
        """``models:/NAME@ALIAS`` or ``models:/NAME/VERSION`` -> the version (UnisimError)."""
        from mlflow.exceptions import MlflowException

        match = REGISTRY_URI_RE.match(source)
        if not match:
            raise UnisimError(f"{source}: expected models:/NAME@ALIAS or models:/NAME/VERSION")
        name, alias, version = match["name"], match["alias"], match["version"]
        try:
            if alias:
                mv = self.client.get_model_version_by_alias(name, alias)
            else:
                mv = self.client.get_model_version(name, version)
        except MlflowException:
            what = f"alias {alias!r}" if alias else f"version {version}"
            raise UnisimError(f"{source}: registered model {name!r} has no {what}") from None
        return mv

    def champion(self, name: str) -> Champion | None:
        """The version under the ``champion`` alias of ``name``, or None (the one reader)."""
        mv = self.version_by_alias(name, ALIAS_CHAMPION)
        if mv is None:
            return None
        return Champion(mv.name, str(mv.version), mv.run_id or None, dict(mv.tags or {}))

    def alias_state(self, name: str) -> AliasState:
        model = self.registered_model(name)
        aliases = aliases_of(model)
        return AliasState(
            aliases.get(ALIAS_CHAMPION), aliases.get(ALIAS_PREVIOUS), history_of(model)
        )

    def version_for_run(self, name: str, run_id: str) -> ModelVersion | None:
        """The version registered from ``run_id`` (promoted or train run), if any."""
        for mv in self.model_versions(name):
            if run_id in (mv.tags.get(VTAG_RUN), mv.run_id):
                return mv
        return None

    # ------------------------------------------------------------ writing
    def write_alias_state(self, name: str, state: AliasState) -> None:
        """Point the aliases and history tag exactly as ``state`` says (the one writer)."""
        for alias, version in ((ALIAS_CHAMPION, state.champion), (ALIAS_PREVIOUS, state.previous)):
            if version is None:
                self._delete_alias(name, alias)
            else:
                self.client.set_registered_model_alias(name, alias, version)
        history = ",".join(state.history[-HISTORY_LIMIT:])
        if history:
            self.client.set_registered_model_tag(name, TAG_CHAMPION_HISTORY, history)
        else:
            with contextlib.suppress(Exception):
                self.client.delete_registered_model_tag(name, TAG_CHAMPION_HISTORY)

    def _delete_alias(self, name: str, alias: str) -> None:
        from mlflow.exceptions import MlflowException

        try:
            self.client.delete_registered_model_alias(name, alias)
        except MlflowException as exc:
            if not is_missing(exc):
                raise

    def create_registered_model(self, name: str, description: str) -> bool:
        """Create ``name``; False when it exists already (made meanwhile by another machine)."""
        from mlflow.exceptions import MlflowException

        try:
            self.client.create_registered_model(name, description=description)
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
            return False
        return True

    def delete_registered_model(self, name: str) -> None:
        self.client.delete_registered_model(name)

    def create_model_version(
        self,
        name: str,
        *,
        model_id: str,
        run_id: str | None,
        tags: dict[str, Any],
        description: str,
    ) -> str:
        """Register the logged model ``model_id`` as a new version of ``name``."""
        mv = self.client.create_model_version(
            name,
            source=f"models:/{model_id}",
            run_id=run_id,
            tags={k: str(v) for k, v in tags.items() if v is not None},
            description=description,
            model_id=model_id,
        )
        return str(mv.version)

    def delete_model_version(self, name: str, version: str) -> None:
        self.client.delete_model_version(name, version)

    def set_version_tag(self, name: str, version: str, key: str, value: str) -> None:
        self.client.set_model_version_tag(name, version, key, value)

    # ------------------------------------------------------------ the champion's metric cache
    def champion_cache(self, champ: Champion, key: str) -> dict[str, Any] | None:
        """A cached evaluation of the champion (``{"metrics": ...}``) or None."""
        raw = champ.tags.get(key)
        if not raw:
            return None
        try:
            data = json.loads(raw)
        except json.JSONDecodeError:
            log.warning("%s: ignoring an unreadable cache tag %s", champ.uri, key)
            return None
        return data if isinstance(data, dict) and isinstance(data.get("metrics"), dict) else None

    def write_champion_cache(self, champ: Champion, key: str, payload: dict[str, Any]) -> None:
        """Cache an evaluation on the champion's version; a read-only registry only warns."""
        try:
            self.client.set_model_version_tag(champ.name, champ.version, key, json.dumps(payload))
        except Exception as exc:
            log.warning("%s: could not cache the champion's metrics (%s)", champ.uri, exc)

    # ------------------------------------------------------------ stages (deprecated)
    def stages_supported(self) -> bool:
        return hasattr(self.client, "transition_model_version_stage")

    def stages(self, name: str) -> dict[str, str]:
        """``{version: stage}`` for every version of ``name``."""
        return {str(mv.version): mv.current_stage or "None" for mv in self.model_versions(name)}

    def set_production(self, name: str, version: str) -> None:
        """Transition ``version`` to Production, archiving the versions there now."""
        with _quiet_stage_warnings():
            self.client.transition_model_version_stage(
                name, version, STAGE_PRODUCTION, archive_existing_versions=True
            )

    def restore_stages(self, name: str, stages: dict[str, str]) -> None:
        """Put each version back in the stage ``stages`` names (undo of ``set_production``)."""
        now = self.stages(name)
        with _quiet_stage_warnings():
            for version, stage in stages.items():
                if version in now and now[version] != stage:
                    self.client.transition_model_version_stage(name, version, stage)
