"""MLflow's entity types, for type hints outside ``unisim.tracking`` (never imported at run time).

    if TYPE_CHECKING:
        from unisim.tracking.entities import Run, ModelVersion

Finders return these as read-only data (``run.info.status``, ``run.data.tags``);
writes go through ``Store`` methods.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mlflow.entities import Experiment, Metric, Run
    from mlflow.entities.model_registry import ModelVersion, RegisteredModel

__all__ = ["Experiment", "Metric", "ModelVersion", "RegisteredModel", "Run"]
