"""Read-only views of runs and the registry for the read commands: SQL fast path, API fallback.

    names = experiment_names(target)                      # {id: name}
    rows = newest_runs(target, ["3"], kind="pipeline", limit=50)
    run = get_run(target, run_id)                         # RunView; UnisimError if unknown
    kids = children(target, run_id)                       # its nested runs, oldest first
    board = gated_pipeline_runs(target)                   # for the leaderboard
    reg = registry(target)                                # models, versions, aliases

A ``RunView`` has the attribute shape of MLflow's ``Run`` (``run.info.run_id``,
``run.data.tags``...), so report code reads either. Database stores on a tested schema
are read in SQL (``sqlreads.py``: no mlflow import, a few ms for thousands of runs);
servers and other stores go through MLflow's API with the same results (tests check
both). Importing this module is cheap.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from unisim.errors import UnisimError
from unisim.tracking.schema import MLFLOW_PARENT_TAG, TAG_KIND
from unisim.tracking.store import TrackingTarget

RUN_ID_CHARS = frozenset("0123456789abcdef")


class RunView(SimpleNamespace):
    """``info`` (run_id, experiment_id, run_name, status, start_time, end_time,
    artifact_uri) and ``data`` (tags, params, metrics): MLflow's ``Run`` shape."""

    @classmethod
    def make(cls, **fields: Any) -> RunView:
        data = SimpleNamespace(
            tags=dict(fields.pop("tags")),
            params=dict(fields.pop("params")),
            metrics=dict(fields.pop("metrics")),
        )
        return cls(info=SimpleNamespace(**fields), data=data)

    @classmethod
    def of(cls, run: Any) -> RunView:
        """From an ``mlflow.entities.Run``."""
        i = run.info
        return cls.make(
            run_id=i.run_id, experiment_id=str(i.experiment_id), run_name=i.run_name or "",
            status=i.status, start_time=i.start_time, end_time=i.end_time,
            artifact_uri=i.artifact_uri, tags=run.data.tags, params=run.data.params,
            metrics=run.data.metrics,
        )  # fmt: skip


@dataclass
class VersionView:
    """A registered model version (``ModelVersion``'s attribute names)."""

    name: str
    version: str
    current_stage: str | None
    source: str | None
    run_id: str | None
    description: str | None
    creation_timestamp: int | None
    tags: dict[str, str] = field(default_factory=dict)


@dataclass
class ModelView:
    name: str
    description: str | None
    tags: dict[str, str]
    aliases: dict[str, str]  # alias -> version


@dataclass
class RegistryView:
    models: dict[str, ModelView]
    versions: list[VersionView]  # by name, then version number

    def versions_of(self, name: str) -> list[VersionView]:
        return [v for v in self.versions if v.name == name]


def _store(target: TrackingTarget) -> Any:
    from unisim.tracking.client import Store

    return Store(target)


# ---------------------------------------------------------------- runs


def experiment_names(target: TrackingTarget) -> dict[str, str]:
    """Active experiments: id -> name."""
    from unisim.tracking.sqlreads import open_reader

    with open_reader(target) as db:
        if db is not None:
            return db.experiments()
    return {e.experiment_id: e.name for e in _store(target).active_experiments()}


def newest_runs(
    target: TrackingTarget,
    experiment_ids: Sequence[str] | None,
    *,
    kind: str | None = None,
    limit: int = 50,
) -> list[RunView]:
    """The newest active runs (of ``kind``) in these experiments (None: all), newest first."""
    from unisim.tracking.queries import NEWEST_FIRST, tag_is
    from unisim.tracking.sqlreads import open_reader

    with open_reader(target) as db:
        if db is not None:
            ids = db.newest_run_ids(experiment_ids, kind=kind, limit=limit)
            found = db.runs(ids)
            return [found[i] for i in ids if i in found]
    store = _store(target)
    exp_ids = (
        list(experiment_ids)
        if experiment_ids is not None
        else [e.experiment_id for e in store.active_experiments()]
    )
    if not exp_ids:
        return []
    flt = tag_is(TAG_KIND, kind) if kind else ""
    runs = store.search_runs(exp_ids, flt, max_results=limit, order_by=NEWEST_FIRST)
    return [RunView.of(r) for r in runs]


def runs_by_id(
    target: TrackingTarget,
    run_ids: Sequence[str],
    param_keys: Sequence[str] | None = None,
    tag_keys: Sequence[str] | None = None,
) -> dict[str, RunView]:
    """Runs by id (unknown ids left out); ``param_keys`` / ``tag_keys`` limit what SQL reads
    (the API path reads every key: callers use only the ones they asked for)."""
    from unisim.tracking.sqlreads import open_reader

    with open_reader(target) as db:
        if db is not None:
            return db.runs(run_ids, param_keys, tag_keys)
    store = _store(target)
    out = {}
    for rid in run_ids:
        run = store.find_run(rid)
        if run is not None:
            out[rid] = RunView.of(run)
    return out


def get_run(target: TrackingTarget, run_id: str) -> RunView:
    """One run; a one-line UnisimError (exit 2) when the id is malformed or unknown."""
    if len(run_id or "") != 32 or not set(run_id) <= RUN_ID_CHARS:
        raise UnisimError(f"run {run_id!r}: not a run id (32 hex characters)")
    found = runs_by_id(target, [run_id]).get(run_id)
    if found is None:
        raise UnisimError(f"run {run_id}: not found in the tracking store")
    return found


def children(target: TrackingTarget, run: RunView) -> list[RunView]:
    """The runs nested under ``run`` (``mlflow.parentRunId``), oldest first."""
    from unisim.tracking.sqlreads import open_reader

    run_id = run.info.run_id
    with open_reader(target) as db:
        if db is not None:
            found = db.runs(db.run_ids_with_tag(MLFLOW_PARENT_TAG, run_id))
            return sorted(found.values(), key=lambda r: (r.info.start_time or 0, r.info.run_id))
    kids = _store(target).children(run_id, run.info.experiment_id)
    return sorted((RunView.of(r) for r in kids), key=lambda r: r.info.start_time or 0)


def gated_pipeline_runs(
    target: TrackingTarget,
    *,
    running: bool = False,
    param_keys: Sequence[str] | None = None,
    tag_keys: Sequence[str] | None = None,
) -> list[RunView]:
    """Gates-passed pipeline runs, FINISHED (and RUNNING when asked), of active experiments."""
    from unisim.tracking.sqlreads import open_reader

    states = ("FINISHED", "RUNNING") if running else ("FINISHED",)
    with open_reader(target) as db:
        if db is not None:
            ids = db.gated_pipeline_run_ids(states)
            return list(db.runs(ids, param_keys, tag_keys).values())
    store = _store(target)
    ids = [e.experiment_id for e in store.active_experiments()]
    runs = store.gated_pipeline_runs(ids, running=running) if ids else []
    return [RunView.of(r) for r in runs if r.info.status in states]


def runs_of_kind(
    target: TrackingTarget,
    kind: str,
    param_keys: Sequence[str] | None = None,
    tag_keys: Sequence[str] | None = None,
) -> list[RunView]:
    """Every active run of one kind (the leaderboard's fallback for older pipeline runs)."""
    from unisim.tracking.sqlreads import open_reader

    with open_reader(target) as db:
        if db is not None:
            ids = db.run_ids_with_tag(TAG_KIND, kind)
            return list(db.runs(ids, param_keys, tag_keys).values())
    store = _store(target)
    ids = [e.experiment_id for e in store.active_experiments()]
    return [RunView.of(r) for r in store.runs_of_kind(ids, kind)] if ids else []


# ---------------------------------------------------------------- the registry


def registry(target: TrackingTarget) -> RegistryView:
    """Registered models (tags, aliases) and every version (tags)."""
    from unisim.tracking.sqlreads import open_reader

    with open_reader(target) as db:
        if db is not None:
            return db.registry()
    store = _store(target)
    models = {
        m.name: ModelView(
            m.name,
            m.description,
            dict(m.tags or {}),
            {k: str(v) for k, v in (m.aliases or {}).items()},
        )
        for m in store.registered_models()
    }
    versions = [
        VersionView(
            name=mv.name,
            version=str(mv.version),
            current_stage=mv.current_stage,
            source=mv.source,
            run_id=mv.run_id,
            description=mv.description,
            creation_timestamp=mv.creation_timestamp,
            tags=dict(mv.tags or {}),
        )  # fmt: skip
        for mv in (store.model_versions() if models else [])
    ]
    return RegistryView(models, versions)


__all__ = [
    "ModelView",
    "RegistryView",
    "RunView",
    "VersionView",
    "children",
    "experiment_names",
    "gated_pipeline_runs",
    "get_run",
    "newest_runs",
    "registry",
    "runs_by_id",
    "runs_of_kind",
]
