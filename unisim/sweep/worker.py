"""A sweep worker: claim a trial, run it, record how it ended; until the study has N.

    done = work(study, ctx, n_trials=16, deadline=time.time() + 3600)

``--trials N`` counts the study's finished trials (complete + pruned) across every run
of the command and every worker: under the claim lock a worker counts finished and
running trials and asks for a new one only while they are fewer than N; when the
running ones would make N it waits for them (one of them may still fail). A trial that
fails (an error, a refused config, a dead worker, still training when ``--budget-s``
ran out) does not count. Ctrl-C or SIGTERM fail
the running trial (its MLflow run ends KILLED) and stop the worker; rerunning the same
command continues the study.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from unisim.sweep.objective import TrialContext, TrialRefused, run_trial

log = logging.getLogger(__name__)

POLL_S = 2.0  # how often a waiting worker looks again
MAX_REFUSED = 20  # consecutive failed trials before the worker gives up


@dataclass
class Counts:
    complete: int = 0
    pruned: int = 0
    running: int = 0
    failed: int = 0

    @property
    def finished(self) -> int:
        return self.complete + self.pruned


def count_trials(study: Any) -> Counts:
    from optuna.trial import TrialState

    c = Counts()
    for t in study.get_trials(deepcopy=False):
        if t.state == TrialState.COMPLETE:
            c.complete += 1
        elif t.state == TrialState.PRUNED:
            c.pruned += 1
        elif t.state == TrialState.RUNNING:
            c.running += 1
        elif t.state == TrialState.FAIL:
            c.failed += 1
    return c


def _claim(study: Any, ctx: TrialContext, url: str, store: Any, n_trials: int) -> Any:
    """A new trial, "done" when the study has N finished, or None (wait for running ones)."""
    from unisim.sweep.storage import claim_lock, fail_dead_trials, quiet, worker_attrs

    with claim_lock(study._storage, url, ctx.study_name):
        fail_dead_trials(study, store)
        counts = count_trials(study)
        if counts.finished >= n_trials:
            return "done"
        if counts.finished + counts.running >= n_trials:
            return None
        with quiet():
            trial = study.ask()
        for key, value in worker_attrs().items():
            trial.set_user_attr(key, value)
        return trial


def work(
    study: Any,
    ctx: TrialContext,
    *,
    url: str,
    n_trials: int,
    deadline: float | None = None,
) -> int:
    """Run trials until the study has ``n_trials`` finished or ``deadline`` (epoch s) passes;
    returns how many trials this worker ran."""
    import optuna
    from optuna.trial import TrialState

    from unisim.errors import UnisimError
    from unisim.sweep.storage import ATTR_REASON, ATTR_RUN, heartbeat
    from unisim.tracking import connect
    from unisim.tracking.sweeps import end_trial_run

    store = connect(ctx.target)
    ran = refused = 0
    while deadline is None or time.time() < deadline:
        trial = _claim(study, ctx, url, store, n_trials)
        if trial == "done":
            break
        if trial is None:
            time.sleep(POLL_S)
            continue
        ran += 1
        log.info("trial %d: starting", trial.number)
        try:
            with heartbeat(study._storage, trial._trial_id):
                value = run_trial(trial, ctx)
        except optuna.TrialPruned:
            study.tell(trial, state=TrialState.PRUNED)
            refused = 0
            continue
        except TrialRefused as exc:
            trial.set_user_attr(ATTR_REASON, str(exc))
            study.tell(trial, state=TrialState.FAIL)
            run_id = study._storage.get_trial(trial._trial_id).user_attrs.get(ATTR_RUN)
            if run_id:
                end_trial_run(store, run_id, "fail", str(exc))
            log.warning("trial %d failed: %s", trial.number, exc)
            refused += 1
            if refused >= MAX_REFUSED:
                raise UnisimError(
                    f"{MAX_REFUSED} trials in a row were refused; last: {exc}"
                ) from None
            continue
        except BaseException as exc:  # Ctrl-C, SIGTERM, a training error: FAIL, then stop
            why = f"{type(exc).__name__}: {exc}".rstrip(": ")
            try:
                trial.set_user_attr(ATTR_REASON, why)
                study.tell(trial, state=TrialState.FAIL)
                run_id = study._storage.get_trial(trial._trial_id).user_attrs.get(ATTR_RUN)
                if run_id:  # start_run ended it KILLED or FAILED; say why in the trial state
                    end_trial_run(store, run_id, "fail", why)
            except Exception as inner:  # the storage itself failed: the rerun will fix it
                log.warning("trial %d: could not record its end: %s", trial.number, inner)
            raise
        study.tell(trial, value)
        refused = 0
        log.info("trial %d: %s = %.5g", trial.number, ctx.metric, value)
    return ran
