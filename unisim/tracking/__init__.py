"""The one door to MLflow: only this package imports mlflow (ruff TID251 enforces it).

    from unisim import tracking
    target = tracking.resolve_tracking()                  # flag > env > profile > ./mlruns
    store = tracking.connect(target)                      # typed finders, writes, registry
    with tracking.start_run(kind=Kind.TRAIN, experiment="burgers", target=target) as run:
        run.metrics.log({"train/loss": 0.1}, step=1)

Modules, one concern each:

    schema      tag names, metric keys, run kinds and statuses, registry tags (constants)
    store       tracking target resolution and profiles
    client      Store = queries + writes + registry + artifacts, on one MlflowClient
    queries     typed finders (every MLflow filter string lives there)
    writes      tags, the one status transition, metrics and artifacts on existing runs
    registry    registered models, versions, the champion alias (one reader, one writer)
    artifacts   artifact files and logged models
    runs        start_run / TrackedRun: open runs and how they end
    stale       runs whose process is gone: `unisim runs end --stale`
    metrics     batched metric logging that rides out server outages
    journal     the on-disk journal of unsent points; transport: bounded HTTP, batches,
                one-line server/URI/credential errors
    sync        `unisim sync`: upload journals, record missed run ends
    sqlite      first use of a SQLite store: created and migrated by one process
    lease       the promotion lease in the Model Registry
    snapshot    read-only fast path over MLflow's tables (tested schemas only)
    provenance  git and library-version tags; links: MLflow UI URLs

Importing this package is cheap: mlflow loads inside the functions that need it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from unisim.tracking.client import Store, connect
from unisim.tracking.links import (
    compare_url,
    experiment_url,
    model_url,
    run_url,
    ui_command,
    version_url,
)
from unisim.tracking.metrics import MetricLogger
from unisim.tracking.provenance import experiment_dir_of, git_info, version_tags
from unisim.tracking.queries import NEWEST_FIRST, RUN_ID_RE
from unisim.tracking.registry import AliasState, Champion
from unisim.tracking.runs import TrackedRun, default_pip_requirements, start_run
from unisim.tracking.schema import *  # noqa: F403 (the tag and metric constants)
from unisim.tracking.schema import Kind, Stage, Status
from unisim.tracking.store import (
    PROFILE_DIR_ENV,
    PROFILE_ENV,
    TrackingTarget,
    configure,
    load_profile,
    redact_uri,
    resolve_tracking,
)
from unisim.tracking.transport import (
    CHUNK,
    MAX_BATCH_PARAMS,
    describe_error,
    fail_fast_http,
    unreachable,
)
from unisim.tracking.writes import status_tags

if TYPE_CHECKING:
    from mlflow import MlflowClient

MAX_BATCH_METRICS = CHUNK


def __getattr__(name: str) -> Any:
    # unisim.settings imports pydantic-settings (~0.2 s): read commands given a tracking URI
    # never need it, so the profile default is loaded on first use only.
    if name == "DEFAULT_PROFILE":
        from unisim.settings import DEFAULT_PROFILE

        return DEFAULT_PROFILE
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def get_or_create_experiment(
    client: MlflowClient,
    name: str,
    target: TrackingTarget,
    tags: dict[str, str] | None = None,
) -> str:
    """Experiment id by name, created if missing (``Store.get_or_create_experiment``)."""
    return Store(target, client).get_or_create_experiment(name, tags)


__all__ = [
    "AliasState",
    "Champion",
    "Kind",
    "MetricLogger",
    "Stage",
    "Status",
    "Store",
    "TrackedRun",
    "TrackingTarget",
    "compare_url",
    "configure",
    "connect",
    "default_pip_requirements",
    "describe_error",
    "experiment_dir_of",
    "experiment_url",
    "fail_fast_http",
    "get_or_create_experiment",
    "git_info",
    "load_profile",
    "model_url",
    "redact_uri",
    "resolve_tracking",
    "run_url",
    "start_run",
    "status_tags",
    "ui_command",
    "unreachable",
    "version_tags",
    "version_url",
    "DEFAULT_PROFILE",  # noqa: F405 (module __getattr__: loaded on first use)
    "MAX_BATCH_METRICS",
    "MAX_BATCH_PARAMS",
    "NEWEST_FIRST",
    "RUN_ID_RE",
    "PROFILE_DIR_ENV",
    "PROFILE_ENV",
]
