"""``Store``: the handle every unisim package uses to read and write MLflow.

    store = connect(target)                  # or connect() for the resolved default
    store.get_run(run_id); store.find_train_run(exp_id, cfg_hash, data_hash)
    store.set_status(run_id, Status.PROMOTED); store.champion("burgers-surrogate")
    store.read_text(run_id, "config.yaml")

The methods come from one module per concern: ``queries`` (finders), ``writes``
(tags, status, metrics), ``registry`` (models, versions, aliases), ``artifacts``.
``store.client`` (MLflow's ``MlflowClient``) is for ``unisim.tracking`` alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from unisim.errors import UnisimError
from unisim.tracking.artifacts import Artifacts
from unisim.tracking.queries import Queries
from unisim.tracking.registry import Registry
from unisim.tracking.store import TrackingTarget, configure, resolve_tracking
from unisim.tracking.transport import unreachable
from unisim.tracking.writes import Writes

if TYPE_CHECKING:
    from mlflow import MlflowClient


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


class Store(Queries, Writes, Registry, Artifacts):
    """One tracking store: its target and an MLflow client made on first use."""

    def __init__(self, target: TrackingTarget, client: MlflowClient | None = None) -> None:
        self.target = target
        self._client = client

    @property
    def client(self) -> MlflowClient:  # type: ignore[override]
        if self._client is None:
            self._client = configure(self.target)
        return self._client

    def get_or_create_experiment(self, name: str, tags: dict[str, str] | None = None) -> str:
        """Experiment id by name, created (with our artifact root) if missing; race-safe."""
        from mlflow.exceptions import MlflowException

        exp = self.client.get_experiment_by_name(name)
        if exp is None:
            root = self.target.artifact_root
            location = f"{root}/{_slug(name)}" if root else None
            try:
                return self.client.create_experiment(name, artifact_location=location, tags=tags)
            except MlflowException as exc:
                if unreachable(exc):
                    raise  # not a race: do not wait on the server a second time
                exp = self.client.get_experiment_by_name(name)  # another process created it
                if exp is None:
                    raise
        if exp.lifecycle_stage == "deleted":
            raise UnisimError(
                f"MLflow experiment {name!r} is deleted; restore it or pick a new name"
            )
        for key, value in (tags or {}).items():
            if exp.tags.get(key) != value:
                self.client.set_experiment_tag(exp.experiment_id, key, value)
        return exp.experiment_id


def connect(target: TrackingTarget | None = None) -> Store:
    """A ``Store`` on ``target`` (default: ``resolve_tracking()``)."""
    return Store(target or resolve_tracking())
