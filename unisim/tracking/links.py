"""Links into the MLflow UI that go straight to what a researcher wants (DESIGN.md).

    experiment_url(target, "3")            # the runs table, model-training view
    run_url(target, "3", run_id)           # one run
    compare_url(target, "3", [id1, id2])   # the compare view (URL-encoded lists)
    model_url(target, "burgers-surrogate") # the registry page
    remember_ui_port(target, 5801)         # `unisim ui --port 5801`: every link follows

One UI address everywhere: a server store's own URL, or for a local store
``http://127.0.0.1:<port>`` with the port ``unisim ui`` last served it on (kept in
``ui.json`` beside ``mlflow.db``; 5000 until then).

Model-training view: MLflow 3.17's UI picks GenAI or model-training pages from the
``workflowType`` URL parameter, else from the browser's ``localStorage``
(``mlflow.workflowType_v1``), defaulting to GenAI, whose experiment page opens on an
overview without training runs (``mlflow/server/js``: the workflow-type context and
the experiment page's default-tab redirect; the ``mlflow.experimentKind`` experiment
tag is read only when that feature flag is off). So every experiment, run and compare
link carries ``?workflowType=machine_learning``, and unisim also tags its experiments
``mlflow.experimentKind=custom_model_development`` for UIs that read the tag.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import quote

from unisim.tracking.store import TrackingTarget

DEFAULT_UI_PORT = 5000
UI_STATE_FILE = "ui.json"  # beside mlflow.db: {"port": 5801}
WORKFLOW_PARAM = "workflowType=machine_learning"  # MLflow 3.17: the model-training view
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
EXPERIMENT_KIND = "custom_model_development"


def ui_state_path(target: TrackingTarget) -> Path | None:
    """``<store folder>/ui.json`` of a local SQLite store (None for servers)."""
    db = target.sqlite_path
    return db.parent / UI_STATE_FILE if db is not None else None


def ui_port(target: TrackingTarget) -> int:
    """The port ``unisim ui`` last served this local store on (5000 before that)."""
    path = ui_state_path(target)
    try:
        port = int(json.loads(path.read_text(encoding="utf-8"))["port"]) if path else 0
    except (OSError, ValueError, KeyError, TypeError):
        port = 0
    return port if 0 < port < 65536 else DEFAULT_UI_PORT


def remember_ui_port(target: TrackingTarget, port: int) -> None:
    """Record the UI port in the store folder so every printed link uses it."""
    path = ui_state_path(target)
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps({"port": int(port)}) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def ui_base(target: TrackingTarget, port: int | None = None) -> str:
    """Base URL of the MLflow UI for this store (a server's URL, or 127.0.0.1:<port>)."""
    if target.uri.startswith("http"):
        return target.uri.rstrip("/")
    return f"http://127.0.0.1:{port or ui_port(target)}"


def experiments_url(target: TrackingTarget) -> str:
    """The experiment list, in the model-training view."""
    return f"{ui_base(target)}/#/experiments?{WORKFLOW_PARAM}"


def experiment_url(target: TrackingTarget, experiment_id: str) -> str:
    return f"{ui_base(target)}/#/experiments/{experiment_id}/runs?{WORKFLOW_PARAM}"


def run_url(target: TrackingTarget, experiment_id: str, run_id: str) -> str:
    return f"{ui_base(target)}/#/experiments/{experiment_id}/runs/{run_id}?{WORKFLOW_PARAM}"


def compare_url(target: TrackingTarget, experiment_id: str, run_ids: list[str]) -> str:
    runs = quote(json.dumps(run_ids, separators=(",", ":")))
    exps = quote(json.dumps([experiment_id], separators=(",", ":")))
    return f"{ui_base(target)}/#/compare-runs?runs={runs}&experiments={exps}&{WORKFLOW_PARAM}"


def model_url(target: TrackingTarget, name: str) -> str:
    return f"{ui_base(target)}/#/models/{quote(name)}"


def version_url(target: TrackingTarget, name: str, version: str) -> str:
    return f"{model_url(target, name)}/versions/{version}"


def ui_command(target: TrackingTarget) -> str:
    """How to open the UI on this store: ``unisim ui`` locally, the server's URL otherwise."""
    if not target.is_local:
        return f"open {ui_base(target)}"
    port = ui_port(target)
    return "unisim ui" if port == DEFAULT_UI_PORT else f"unisim ui --port {port}"


def tracking_env_line(target: TrackingTarget) -> str:
    """``export MLFLOW_TRACKING_URI=...``: plain MLflow tools on this store (no new ./mlflow.db)."""
    from shlex import quote as shell_quote

    from unisim.tracking.store import redact_uri

    return f"export MLFLOW_TRACKING_URI={shell_quote(redact_uri(target.uri))}"
