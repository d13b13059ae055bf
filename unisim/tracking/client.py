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

from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from unisim.errors import UnisimError
from unisim.tracking.artifacts import Artifacts
from unisim.tracking.links import EXPERIMENT_KIND, EXPERIMENT_KIND_TAG
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

        tags = {EXPERIMENT_KIND_TAG: EXPERIMENT_KIND, **(tags or {})}  # model-training UI
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
        check_artifact_home(self.target, exp.name, exp.artifact_location)
        for key, value in tags.items():
            if exp.tags.get(key) != value:
                self.client.set_experiment_tag(exp.experiment_id, key, value)
        return exp.experiment_id


def _foreign_store(location: str | None, own_db: Path) -> Path | None:
    """The database of another local store whose folder holds ``location`` (else None)."""
    if not location or not location.startswith("file:"):
        return None
    path = Path(unquote(urlsplit(location).path))
    own = own_db.resolve()
    for folder in (path, *path.parents):
        if folder == own.parent:
            return None
        for name in {own_db.name, "mlflow.db"}:
            db = folder / name
            if db.is_file() and db.resolve() != own:
                return db
    return None


def _moved_store(target: TrackingTarget, name: str, location: str | None) -> Path | None:
    """The old artifact root of a store moved away: the experiment's location is what unisim
    made (``<root>/<name>`` under a root named like ours), that root is gone, and it is
    not this store's root."""
    if not location or not location.startswith("file:") or not target.artifact_root:
        return None
    path = Path(unquote(urlsplit(location).path))
    own_root = Path(unquote(urlsplit(target.artifact_root).path))
    if path.name != _slug(name) or path.parent.name != own_root.name:
        return None
    if path.parent == own_root or path.parent.exists():
        return None
    return path.parent


def check_artifact_home(target: TrackingTarget, name: str, location: str | None) -> None:
    """Refuse to write runs of a local store whose artifacts live outside it: in another
    store's folder (a copied project) or under a folder that is gone (a moved one).

    MLflow records absolute artifact locations, so a copied or moved project folder keeps
    pointing at the original's ``mlruns/``: its runs would write their files there.
    """
    if target.sqlite_path is None:
        return
    where = unquote(urlsplit(location or "").path)
    other = _foreign_store(location, target.sqlite_path)
    if other is not None:
        raise UnisimError(
            f"experiment {name!r} of {target.sqlite_path} keeps its artifacts in {where}, "
            f"inside another store ({other}): this store was copied or moved, and its runs "
            f"would write into that folder; start a fresh store here (move "
            f"{target.sqlite_path.parent} aside) or use that one (--tracking-uri sqlite:///{other})"
        )
    gone = _moved_store(target, name, location)
    if gone is not None:
        raise UnisimError(
            f"experiment {name!r} of {target.sqlite_path} keeps its artifacts in {where}, under "
            f"{gone}, which no longer exists: this store was copied or moved, and its runs would "
            f"write outside it; start a fresh store here (move {target.sqlite_path.parent} aside)"
        )


def connect(target: TrackingTarget | None = None) -> Store:
    """A ``Store`` on ``target`` (default: ``resolve_tracking()``)."""
    return Store(target or resolve_tracking())
