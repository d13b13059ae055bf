"""Writes to runs that already exist: tags, lifecycle status, metrics, small artifacts.

    store.set_status(run_id, Status.PROMOTED)                  # the one status transition
    store.set_status(run_id, Status.FAILED, reason="stage train: ...", end="FAILED")
    store.set_tags(run_id, {TAG_MODEL_VERSION: "3"})
    store.log_metrics(run_id, {"final_nrmse": 0.03})
    status_tags(Status.ARCHIVED, previous="success")           # the tags a transition writes

Every writer of ``unisim.status`` goes through ``status_tags`` (planned writes, such
as archive's journal) or ``set_status`` (immediate ones), so the rules live once:
a failure carries ``unisim.failure_reason``; leaving ``failed`` clears it; archiving
keeps the previous status in ``unisim.final_status``.
"""

from __future__ import annotations

import json
import logging
import time
from typing import TYPE_CHECKING, Any

from unisim.tracking.schema import (
    TAG_FAILURE_REASON,
    TAG_FINAL_STATUS,
    TAG_STATUS,
    Status,
)
from unisim.tracking.transport import MAX_BATCH_PARAMS

if TYPE_CHECKING:
    from mlflow import MlflowClient

log = logging.getLogger(__name__)

_GONE = ("RESOURCE_DOES_NOT_EXIST", "INVALID_STATE")  # deleted run or experiment


def status_tags(
    status: str, *, reason: str | None = None, previous: str | None = None
) -> dict[str, str | None]:
    """The tags a move to ``status`` writes (None: delete that tag).

    ``reason`` says why a run ``failed`` (without one, a recorded reason is kept);
    ``previous`` is the status an archived run had before (``unisim.final_status``).
    """
    status = Status(status).value
    tags: dict[str, str | None] = {TAG_STATUS: status}
    if status == Status.FAILED:
        if reason:
            tags[TAG_FAILURE_REASON] = reason[:500]
    elif status != Status.ARCHIVED:
        tags[TAG_FAILURE_REASON] = None  # a resumed or repaired run is no longer failed
    if status == Status.ARCHIVED:
        tags[TAG_FINAL_STATUS] = previous or ""
    return tags


class Writes:
    """Writes to existing runs and experiments (a mixin of ``Store``)."""

    client: MlflowClient

    def set_tags(self, run_id: str, tags: dict[str, Any]) -> None:
        """Set tags in batches of 100 (``None`` values are skipped)."""
        from mlflow.entities import RunTag

        items = [RunTag(k, str(v)) for k, v in tags.items() if v is not None]
        for i in range(0, len(items), MAX_BATCH_PARAMS):
            self.client.log_batch(run_id, tags=items[i : i + MAX_BATCH_PARAMS])

    def delete_tag(self, run_id: str, key: str) -> None:
        """Remove a tag; a tag that is not there is fine."""
        from mlflow.exceptions import MlflowException

        try:
            self.client.delete_tag(run_id, key)
        except MlflowException as exc:
            if exc.error_code not in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                raise

    def apply_tags(
        self, run_id: str, tags: dict[str, str | None], *, missing_ok: bool = False
    ) -> None:
        """Set the tags with a value and delete the ones mapped to None.

        ``missing_ok``: a run deleted meanwhile is skipped with a warning (replayed plans).
        """
        from mlflow.exceptions import MlflowException

        try:
            self.set_tags(run_id, {k: v for k, v in tags.items() if v is not None})
            if any(v is None for v in tags.values()):
                current = self.client.get_run(run_id).data.tags
                for key in [k for k, v in tags.items() if v is None and k in current]:
                    self.delete_tag(run_id, key)
        except MlflowException as exc:
            if not missing_ok or exc.error_code not in _GONE:
                raise
            log.warning("run %s: tags not written: %s", run_id, str(exc).splitlines()[0])

    def set_status(
        self,
        run_id: str,
        status: str,
        *,
        reason: str | None = None,
        previous: str | None = None,
        end: str | None = None,
    ) -> None:
        """Move a run to lifecycle ``status``; ``end`` also terminates a RUNNING MLflow run
        (``FINISHED`` | ``FAILED`` | ``KILLED``)."""
        self.apply_tags(run_id, status_tags(status, reason=reason, previous=previous))
        if end is not None and self.client.get_run(run_id).info.status == "RUNNING":
            self.client.set_terminated(run_id, end)

    def end_run(self, run_id: str, state: str) -> None:
        """Terminate a run in MLflow's terms (FINISHED | FAILED | KILLED)."""
        self.client.set_terminated(run_id, state)

    def log_metrics(
        self,
        run_id: str,
        metrics: dict[str, float],
        *,
        step: int = 0,
        synchronous: bool = True,
        model_id: str | None = None,
    ) -> None:
        """Log scalar metrics on a run that may not be the active one; with ``model_id``
        they are also the MLflow 3 logged model's metrics (numbers on its registered
        versions' pages)."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        points = [Metric(k, float(v), now, step, model_id=model_id) for k, v in metrics.items()]
        self.client.log_batch(run_id, metrics=points, synchronous=synchronous)

    def log_text(self, run_id: str, text: str, artifact_file: str) -> None:
        self.client.log_text(run_id, text, artifact_file)

    def log_dict(self, run_id: str, data: dict[str, Any], artifact_file: str) -> None:
        self.log_text(run_id, json.dumps(data, indent=2, default=str), artifact_file)

    def log_artifact(self, run_id: str, path: str, artifact_path: str | None = None) -> None:
        self.client.log_artifact(run_id, path, artifact_path)

    def set_experiment_tags(
        self, experiment_id: str, tags: dict[str, str | None], *, missing_ok: bool = False
    ) -> None:
        """Set (or, for None values, delete) experiment tags; see ``apply_tags``."""
        from mlflow.exceptions import MlflowException

        for key, value in tags.items():
            try:
                if value is None:
                    self.client.delete_experiment_tag(experiment_id, key)
                else:
                    self.client.set_experiment_tag(experiment_id, key, value)
            except MlflowException as exc:
                if not missing_ok or exc.error_code not in _GONE:
                    raise
                log.warning(
                    "experiment %s: tag %s not written: %s",
                    experiment_id,
                    key,
                    str(exc).splitlines()[0],
                )
