"""MLflow for sweeps: the sweep (parent) run, trial runs' end states, the study's summary.

    run_id = open_sweep_run(target, experiment, study, cfg, config_path, resume_run_id)
    end_trial_run(store, trial_run_id, "fail", "worker 123 on host-a is gone")
    trial_runs(store, experiment_id, sweep_run_id)      # the nested trial runs
    summarise_sweep(store, sweep_run_id, summary, plots)  # best trial, tables, plots

A trial run is a ``train`` run in all but kind (``unisim.kind=trial``), nested under the
sweep run, tagged with the study, trial number and ``unisim.trial_state``. A pruned
trial ends FINISHED with ``unisim.trial_state=pruned`` (and ``unisim.stop_reason=pruned``),
never FAILED; a trial whose worker died ends KILLED with ``unisim.trial_state=fail``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from unisim.tracking.schema import (
    MLFLOW_PARENT_TAG,
    SWEEP_BEST,
    SWEEP_FINISHED,
    TAG_BEST_RUN,
    TAG_BEST_TRIAL,
    TAG_FAILURE_REASON,
    TAG_KIND,
    TAG_STATUS,
    TAG_TRIAL_STATE,
    Kind,
    Status,
)

if TYPE_CHECKING:
    from unisim.tracking.client import Store

log = logging.getLogger(__name__)


def end_trial_run(store: Store, run_id: str, state: str, reason: str) -> None:
    """Tag a trial run's final state and end it KILLED if it is still RUNNING."""
    try:
        run = store.client.get_run(run_id)
    except Exception as exc:  # never created (the worker died before MLflow answered)
        log.debug("trial run %s: %s", run_id, exc)
        return
    store.set_tags(run_id, {TAG_TRIAL_STATE: state})
    if run.info.status == "RUNNING":
        store.set_status(run_id, Status.FAILED, reason=reason, end="KILLED")


def reopen_sweep_run(store: Store, run_id: str) -> None:
    """A resumed sweep: its run may have been ended KILLED as stale; it runs again."""
    tags = store.get_run(run_id).data.tags
    if TAG_FAILURE_REASON in tags:
        store.delete_tag(run_id, TAG_FAILURE_REASON)
    store.set_tags(run_id, {TAG_STATUS: Status.RUNNING.value})


def trial_runs(store: Store, experiment_id: str, sweep_run_id: str) -> list[Any]:
    """The trial runs nested under a sweep run, newest first."""
    return store.children(sweep_run_id, experiment_id, kind=Kind.TRIAL)


def sweep_runs(store: Store, experiment_id: str) -> list[Any]:
    return store.runs_of_kind([experiment_id], Kind.SWEEP)


def summarise_sweep(
    store: Store,
    run_id: str,
    *,
    rows: list[dict[str, Any]],
    best: dict[str, Any] | None,
    plots: list[Path],
    finished: int,
) -> None:
    """Best trial (tags, metric, best_params.json), the trials table and plots on the run."""
    import pandas as pd

    store.log_dict(run_id, {"trials": rows}, "trials.json")
    if rows:
        store.log_text(run_id, pd.DataFrame(rows).to_csv(index=False), "trials.csv")
    metrics: dict[str, float] = {SWEEP_FINISHED: float(finished)}
    if best is not None:
        store.set_tags(
            run_id,
            {TAG_BEST_TRIAL: str(best["number"]), TAG_BEST_RUN: best.get("run_id") or ""},
        )
        store.log_dict(run_id, best, "best_params.json")
        metrics[SWEEP_BEST] = float(best["value"])
    store.log_metrics(run_id, metrics)
    for path in plots:
        store.log_artifact(run_id, str(path), "plots")


def is_trial_of(run: Any, sweep_run_id: str) -> bool:
    tags = run.data.tags
    return tags.get(TAG_KIND) == Kind.TRIAL and tags.get(MLFLOW_PARENT_TAG) == sweep_run_id


def dump(obj: Any) -> str:
    return json.dumps(obj, indent=2, default=str)
