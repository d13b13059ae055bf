"""Where a study lives, who may start the next trial, and what happens to dead workers' trials.

    url = storage_url(target)            # sqlite:///<store dir>/optuna.db beside ./mlruns/mlflow.db
    storage = open_storage(url)          # RDBStorage with heartbeats (UNISIM_SWEEP_HEARTBEAT_S)
    with claim_lock(storage, url, "my-study"):   # one worker at a time counts and asks
        fail_dead_trials(study, store)

The study beside the tracking store: the embedded local store gets a SQLite file next to
its ``mlflow.db``; a team whose tracking store is a server or a database sets
``UNISIM_SWEEP_STORAGE`` (a PostgreSQL URL every worker can reach, a database of its own:
Optuna's and MLflow's tables must not share one), so ``--study NAME`` on another machine
joins the same study.

Dead workers. A trial records the host, pid and start time of its worker. A RUNNING trial
whose worker was on this host and is gone is failed at once; one of another host is
failed by Optuna's heartbeat check once it has been silent for the grace period. Either
way its MLflow run is ended KILLED with ``unisim.trial_state=fail``.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from unisim.errors import UnisimError

if TYPE_CHECKING:
    from unisim.tracking import TrackingTarget

log = logging.getLogger(__name__)

STORAGE_FILE = "optuna.db"
ATTR_HOST, ATTR_PID, ATTR_PID_START = "host", "pid", "pid_start"
ATTR_RUN = "mlflow_run_id"  # the trial's MLflow run
ATTR_REASON = "fail_reason"
STUDY_SWEEP_RUN = "mlflow_sweep_run"  # study attr: the parent run
STUDY_EXPERIMENT = "mlflow_experiment"


def storage_url(target: TrackingTarget, given: str | None = None) -> str:
    """``--storage`` > ``UNISIM_SWEEP_STORAGE`` > a SQLite file beside a local tracking store."""
    from unisim.settings import load_settings

    url = given or load_settings().sweep_storage
    if url:
        if target.uri.split("?")[0] == url.split("?")[0]:
            raise UnisimError(
                f"sweep storage {url!r} is the tracking database: give the study a database "
                "of its own (Optuna's and MLflow's tables collide)"
            )
        return url
    db = target.sqlite_path
    if db is None:
        raise UnisimError(
            "the tracking store is a server: set UNISIM_SWEEP_STORAGE (or --storage) to a "
            "database every sweep worker can reach, e.g. postgresql://user@host/unisim_sweeps"
        )
    return f"sqlite:///{Path(db).parent.resolve() / STORAGE_FILE}"


def open_storage(url: str) -> Any:
    """An Optuna RDBStorage with heartbeats; SQLite waits for locks instead of failing."""
    import optuna

    from unisim.settings import load_settings

    beat = max(1, int(load_settings().sweep_heartbeat_s))
    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        Path(url.split(":///", 1)[1]).parent.mkdir(parents=True, exist_ok=True)
        kwargs = {"connect_args": {"timeout": 120}}
    else:
        kwargs = {"pool_pre_ping": True}
    with quiet():
        return optuna.storages.RDBStorage(
            url,
            engine_kwargs=kwargs,
            heartbeat_interval=beat,
            grace_period=beat * 3,
            heartbeat_stale_trial_callback=_on_stale,
        )


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Optuna's experimental-feature and "heartbeat is for Study.optimize" warnings: we
    record heartbeats ourselves (``heartbeat``) around ask/tell."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


# ---------------------------------------------------------------- the claim lock


@contextlib.contextmanager
def claim_lock(storage: Any, url: str, study_name: str) -> Iterator[None]:
    """One worker at a time counts the study's trials and asks for a new one.

    SQLite: a file lock beside the database. PostgreSQL: an advisory lock held on one
    connection. Anything else: no lock (a surplus trial is then possible but never
    counted twice: totals count finished trials).
    """
    if url.startswith("sqlite"):
        from filelock import FileLock

        db = Path(url.split(":///", 1)[1])
        with FileLock(str(db.parent / f".{db.name}.{_slug(study_name)}.lock")):
            yield
        return
    if url.startswith(("postgresql", "postgres")):
        from sqlalchemy import text

        key = int(hashlib.sha256(study_name.encode()).hexdigest()[:15], 16)
        engine = getattr(storage, "_backend", storage).engine  # under Optuna's cache
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": key})
            conn.commit()
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()
        return
    yield


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


# ---------------------------------------------------------------- workers and heartbeats


def worker_attrs() -> dict[str, Any]:
    """What a later process needs to tell whether this worker is alive."""
    from unisim.tracking.stale import _start_time

    start = _start_time(os.getpid())
    return {ATTR_HOST: socket.gethostname(), ATTR_PID: os.getpid(), ATTR_PID_START: start}


@contextlib.contextmanager
def heartbeat(storage: Any, trial_id: int) -> Iterator[None]:
    """Record the trial's heartbeat every interval while the block runs."""
    interval = storage.get_heartbeat_interval()
    if not interval:
        yield
        return
    stop = threading.Event()

    def beat() -> None:
        while True:
            with contextlib.suppress(Exception):  # a missed beat is not a failure
                storage.record_heartbeat(trial_id)
            if stop.wait(interval):
                return

    thread = threading.Thread(target=beat, name=f"heartbeat-{trial_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)


def _worker_gone(attrs: dict[str, Any]) -> bool:
    from unisim.tracking.stale import process_alive

    pid = attrs.get(ATTR_PID)
    if attrs.get(ATTR_HOST) != socket.gethostname() or not isinstance(pid, int):
        return False
    if pid == os.getpid():
        return False
    return not process_alive(pid, attrs.get(ATTR_PID_START))


_store_for_callback: list[Any] = []  # the Store that _on_stale ends MLflow runs in


def _on_stale(study: Any, trial: Any) -> None:
    """Optuna failed a trial whose heartbeat stopped (another host): end its MLflow run."""
    run_id = trial.user_attrs.get(ATTR_RUN)
    if run_id and _store_for_callback:
        from unisim.tracking.sweeps import end_trial_run

        end_trial_run(_store_for_callback[0], run_id, "fail", "its worker stopped heartbeating")


def fail_dead_trials(study: Any, store: Any) -> list[int]:
    """Fail the RUNNING trials whose worker is gone; end their MLflow runs. Trial numbers."""
    import optuna
    from optuna.trial import TrialState

    from unisim.tracking.sweeps import end_trial_run

    _store_for_callback[:] = [store]
    failed = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if not _worker_gone(trial.user_attrs):
            continue
        why = (
            f"worker {trial.user_attrs.get(ATTR_PID)} on {trial.user_attrs.get(ATTR_HOST)} is gone"
        )
        try:
            study._storage.set_trial_user_attr(trial._trial_id, ATTR_REASON, why)
            study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
        except Exception as exc:  # another worker got there first
            log.debug("trial %d: %s", trial.number, exc)
            continue
        run_id = trial.user_attrs.get(ATTR_RUN)
        if run_id:
            end_trial_run(store, run_id, "fail", why)
        log.warning("trial %d: %s; marked FAIL", trial.number, why)
        failed.append(trial.number)
    with contextlib.suppress(Exception), quiet():
        optuna.storages.fail_stale_trials(study)
    return failed
