"""Runs whose process is gone (``kill -9``, a crash, a reboot): find them and end them KILLED.

    process_tags()                                  # host, pid, start time: on every run
    found = end_stale_runs(store)                   # every experiment; `unisim runs end --stale`
    found = end_stale_runs(store, [exp_id], dry_run=True)
    found = end_stale(target, "2026-11-29-x", dry_run=False)   # what the command calls
    [f.run_id for f in found if f.ended]

Every run records the host, pid and start time of the process that opened it
(``unisim.host``, ``unisim.pid``, ``unisim.pid_start``). A RUNNING run is stale when it
was opened on this host and that process no longer exists, or the pid now belongs to a
process started at another time. Runs of other hosts, and runs without the tags (older
unisim), are reported but never touched: their liveness cannot be known from here.
Ending one writes ``unisim.status=failed`` with a reason, MLflow's KILLED, and marks the
PENDING logged models it left (a kill during model logging) FAILED. ``start_run`` does
this for an experiment before a new top-level run opens in it.
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING

from unisim.tracking.queries import RUNNING
from unisim.tracking.schema import TAG_HOST, TAG_KIND, TAG_PID, TAG_PID_START, Status

if TYPE_CHECKING:
    from unisim.tracking.client import Store
    from unisim.tracking.store import TrackingTarget

log = logging.getLogger(__name__)


def _start_time(pid: int) -> float | None:
    import psutil

    try:
        return psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None


def process_tags() -> dict[str, str]:
    """The tags that let a later command tell whether this process is still alive."""
    start = _start_time(os.getpid())
    tags = {TAG_HOST: socket.gethostname(), TAG_PID: str(os.getpid())}
    if start is not None:
        tags[TAG_PID_START] = f"{start:.2f}"
    return tags


def process_alive(pid: int, started: float | None) -> bool:
    """Is ``pid`` (started at ``started``, epoch s, when known) still running on this host?"""
    import psutil

    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        now = proc.create_time()
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:  # someone else's process with that pid: not ours
        return started is None
    return started is None or abs(now - started) < 1.0


@dataclass(frozen=True)
class StaleRun:
    """A RUNNING run and what is known about its process."""

    run_id: str
    experiment_id: str
    kind: str | None
    host: str | None
    pid: int | None
    state: str  # gone | alive | other-host | unknown
    ended: bool = False

    @property
    def why(self) -> str:
        if self.state == "gone":
            return f"process {self.pid} on {self.host} is gone"
        if self.state == "alive":
            return f"process {self.pid} is still running"
        if self.state == "other-host":
            return f"opened on {self.host}: cannot tell from here"
        return "no process tags (older unisim): cannot tell"


def _judge(run: object, host: str) -> StaleRun:
    info, tags = run.info, run.data.tags  # type: ignore[attr-defined]
    raw_pid, raw_start = tags.get(TAG_PID), tags.get(TAG_PID_START)
    pid = int(raw_pid) if raw_pid and raw_pid.isdigit() else None
    started = float(raw_start) if raw_start else None
    if pid is None or not tags.get(TAG_HOST):
        state = "unknown"
    elif tags[TAG_HOST] != host:
        state = "other-host"
    elif pid == os.getpid() or process_alive(pid, started):
        state = "alive"
    else:
        state = "gone"
    return StaleRun(
        info.run_id, info.experiment_id, tags.get(TAG_KIND), tags.get(TAG_HOST), pid, state
    )


def find_running(store: Store, experiment_ids: list[str] | None = None) -> list[StaleRun]:
    """Every RUNNING run of the experiments (default: all active ones), judged."""
    ids = experiment_ids
    if ids is None:
        ids = [e.experiment_id for e in store.active_experiments()]
    host = socket.gethostname()
    return [_judge(run, host) for run in store.iter_runs(ids, RUNNING)] if ids else []


def end_stale_runs(
    store: Store,
    experiment_ids: list[str] | None = None,
    *,
    dry_run: bool = False,
    by: str = "unisim runs end --stale",
) -> list[StaleRun]:
    """End every stale run KILLED (``dry_run``: only say which); returns all RUNNING runs."""
    found = find_running(store, experiment_ids)
    out = []
    for run in found:
        if run.state != "gone" or dry_run:
            out.append(run)
            continue
        reason = f"{run.why}; ended KILLED by {by}"
        store.set_status(run.run_id, Status.FAILED, reason=reason, end="KILLED")
        store.fail_pending_models(run.run_id, run.experiment_id)
        log.warning("run %s: %s", run.run_id, reason)
        out.append(StaleRun(**{**run.__dict__, "ended": True}))
    return out


def end_stale(
    target: TrackingTarget, experiment: str | None = None, *, dry_run: bool = False
) -> list[StaleRun]:
    """``unisim runs end --stale [EXPERIMENT] [--dry-run]``: every RUNNING run, judged,
    the stale ones ended (not in a dry run)."""
    from unisim.tracking.client import connect

    store = connect(target)
    ids = [store.resolve_experiment(experiment).experiment_id] if experiment else None
    return end_stale_runs(store, ids, dry_run=dry_run)
