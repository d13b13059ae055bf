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

Progress: one line on stderr per trial that ends, with the study's totals and best so far::

    trial 3 complete: val/nrmse 0.03217 in 71 s | 4/16 finished, best 0.03172 (trial 1)
    trial 4 pruned at epoch 3 in 22 s | 5/16 finished, best 0.03172 (trial 1)
"""

from __future__ import annotations

import logging
import sys
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


def _say(study: Any, trial: Any, ended: str, seconds: float, n_trials: int) -> None:
    """One progress line on stderr (stdout stays for results); never fails the worker."""
    try:
        c = count_trials(study)
        try:
            best = study.best_trial
            tail = f", best {best.value:.5g} (trial {best.number})"
        except ValueError:  # no complete trial yet
            tail = ""
        line = f"trial {trial.number} {ended} in {seconds:.0f} s | {c.finished}/{n_trials} finished"
        print(line + tail, file=sys.stderr, flush=True)
    except Exception as exc:  # a progress line must not stop a sweep
        log.debug("progress line: %s", exc)


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
        t0 = time.monotonic()
        try:
            with heartbeat(study._storage, trial._trial_id):
                value = run_trial(trial, ctx)
        except optuna.TrialPruned:
            study.tell(trial, state=TrialState.PRUNED)
            step = study._storage.get_trial(trial._trial_id).last_step
            where = f" at epoch {step}" if step is not None else ""
            _say(study, trial, f"pruned{where}", time.monotonic() - t0, n_trials)
            refused = 0
            continue
        except TrialRefused as exc:
            trial.set_user_attr(ATTR_REASON, str(exc))
            study.tell(trial, state=TrialState.FAIL)
            run_id = study._storage.get_trial(trial._trial_id).user_attrs.get(ATTR_RUN)
            if run_id:
                end_trial_run(store, run_id, "fail", str(exc))
            _say(study, trial, f"failed ({exc})", time.monotonic() - t0, n_trials)
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
        _say(study, trial, f"complete: {ctx.metric} {value:.5g}", time.monotonic() - t0, n_trials)
    return ran
