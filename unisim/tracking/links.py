"""Links into the MLflow UI that go straight to what a researcher wants (DESIGN.md).

experiment_url(target, "3")            # the runs table, not the GenAI overview
run_url(target, "3", run_id)           # one run
compare_url(target, "3", [id1, id2])   # the compare view (URL-encoded lists)
model_url(target, "burgers-surrogate") # the registry page
"""

from __future__ import annotations

import json
from urllib.parse import quote

from unisim.tracking.store import TrackingTarget


def experiment_url(target: TrackingTarget, experiment_id: str) -> str:
    return f"{target.ui_base()}/#/experiments/{experiment_id}/runs"


def run_url(target: TrackingTarget, experiment_id: str, run_id: str) -> str:
    return f"{target.ui_base()}/#/experiments/{experiment_id}/runs/{run_id}"


def compare_url(target: TrackingTarget, experiment_id: str, run_ids: list[str]) -> str:
    runs = quote(json.dumps(run_ids, separators=(",", ":")))
    exps = quote(json.dumps([experiment_id], separators=(",", ":")))
    return f"{target.ui_base()}/#/compare-runs?runs={runs}&experiments={exps}"


def model_url(target: TrackingTarget, name: str) -> str:
    return f"{target.ui_base()}/#/models/{name}"


def version_url(target: TrackingTarget, name: str, version: str) -> str:
    return f"{model_url(target, name)}/versions/{version}"


def ui_command(target: TrackingTarget) -> str:
    """How to open the UI on this store: ``unisim ui`` locally, the server's URL otherwise."""
    return "unisim ui" if target.is_local else f"open {target.ui_base()}"
