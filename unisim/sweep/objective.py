"""One trial: sample a config, train it with ``train_model``, report each epoch to Optuna.

    value = run_trial(trial, ctx)   # raises optuna.TrialPruned when the pruner says so

The trial is an ordinary training run (``train_model``, the ``Trainer``, the MLflow
callback) with ``unisim.kind=trial``, nested under the sweep run, and one more callback:
``PruningCallback`` reports the objective metric each epoch (``trial.report``) and, when
the pruner says so, asks the loop to stop after that epoch (``stop_reason=pruned``), so
the run ends FINISHED with its curve up to there. The objective is the best value of a
validation metric over the epochs; the data is loaded with the train and validation
splits only (the test split is never read during a sweep).
"""

from __future__ import annotations

import logging
import math
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from unisim.sweep.space import SearchSpace
from unisim.training.trainer import Callback, Trainer

log = logging.getLogger(__name__)

PRUNED = "pruned"  # Trainer.stop_reason of a pruned trial
OUT_OF_BUDGET = "sweep_budget"  # ... of a trial the sweep's --budget-s cut short


@dataclass
class TrialContext:
    """What every trial of one worker shares."""

    config: str  # the base config file
    overrides: list[str]  # --set
    space: SearchSpace
    study_name: str
    metric: str  # per-epoch validation metric, minimised
    target: Any  # TrackingTarget
    sweep_run_id: str
    splits: Any = None  # train + val only, loaded once per worker
    data_key: str = ""
    checkpoint_root: Path = field(default_factory=lambda: Path.cwd() / "checkpoints" / "sweeps")
    deadline: float | None = None  # epoch s: --budget-s; a trial still training then stops


class PruningCallback(Callback):
    """Report ``metric`` per epoch to the trial; stop the loop after an epoch it prunes."""

    def __init__(
        self, trial: Any, metric: str, on_run: Any = None, deadline: float | None = None
    ) -> None:
        self.trial = trial
        self.metric = metric
        self.on_run = on_run  # called with the MLflow run id once the run exists
        self.deadline = deadline
        self.best = math.inf

    def on_train_start(self, trainer: Trainer) -> None:
        run_id = trainer.meta.get("run_id")
        if run_id and self.on_run is not None:
            self.on_run(run_id)

    def on_epoch_end(self, trainer: Trainer, epoch: int, metrics: dict[str, float]) -> None:
        from unisim.errors import UnisimError

        if self.metric not in metrics:
            raise UnisimError(f"--metric {self.metric}: not a per-epoch metric of training")
        value = float(metrics[self.metric])
        if math.isfinite(value):
            self.best = min(self.best, value)
        self.trial.report(value if math.isfinite(value) else math.inf, epoch)
        if trainer.stop_reason is None and self.trial.should_prune():
            trainer.stop_reason = PRUNED
        elif trainer.stop_reason is None and self.deadline and time.time() >= self.deadline:
            trainer.stop_reason = OUT_OF_BUDGET  # a half-trained value would mislead: FAIL


def _splits(ctx: TrialContext, cfg: Any) -> Any:
    """Train and validation splits of ``cfg.data`` (cached per worker)."""
    from unisim.config import data_config_hash
    from unisim.data import load_data

    key = data_config_hash(cfg.data)
    if ctx.splits is None or ctx.data_key != key:
        ctx.splits, ctx.data_key = load_data(cfg.data, splits=("train", "val")), key
    return ctx.splits


def run_trial(trial: Any, ctx: TrialContext) -> float:
    """Train one sampled config; the objective value, or ``optuna.TrialPruned``."""
    import optuna

    from unisim.config import load_config
    from unisim.errors import ConfigError
    from unisim.sweep.storage import ATTR_RUN
    from unisim.tracking import TAG_STUDY, TAG_TRIAL, TAG_TRIAL_STATE, Kind, TrialState, connect
    from unisim.training import train_model

    sampled = ctx.space.suggest(trial)
    try:
        cfg = load_config(ctx.config, [*ctx.overrides, *sampled])
    except ConfigError as exc:  # a combination the config refuses: this trial fails
        raise TrialRefused(str(exc)) from None
    splits = _splits(ctx, cfg)
    ckdir = ctx.checkpoint_root / ctx.study_name / f"trial-{trial.number}"
    shutil.rmtree(ckdir, ignore_errors=True)  # a number reused after a crash starts clean
    callback = PruningCallback(
        trial,
        ctx.metric,
        on_run=lambda run_id: trial.set_user_attr(ATTR_RUN, run_id),
        deadline=ctx.deadline,
    )
    from unisim.training.trainer import NonFiniteLoss

    try:
        result = train_model(
            cfg,
            ctx.config,
            target=ctx.target,
            parent_run_id=ctx.sweep_run_id,
            show_progress=False,
            callbacks=[callback],
            splits=splits,
            run_name=f"trial {trial.number}",
            kind=Kind.TRIAL,
            tags={
                TAG_STUDY: ctx.study_name,
                TAG_TRIAL: str(trial.number),
                TAG_TRIAL_STATE: TrialState.RUNNING.value,
            },
            log_model=False,
            checkpoints=ckdir,
        )
    except NonFiniteLoss as exc:  # a diverging config (lr too high): the run ended FAILED
        raise TrialRefused(str(exc)) from None
    finally:
        shutil.rmtree(ckdir, ignore_errors=True)
    if result.stop_reason == OUT_OF_BUDGET:
        raise TrialRefused(f"the sweep's time budget ran out after epoch {result.epochs_run}")
    pruned = result.stop_reason == PRUNED
    state = TrialState.PRUNED if pruned else TrialState.COMPLETE
    connect(ctx.target).set_tags(result.run_id, {TAG_TRIAL_STATE: state.value})
    trial.set_user_attr("best_epoch", result.best_epoch)
    trial.set_user_attr("epochs_run", result.epochs_run)
    if pruned:
        raise optuna.TrialPruned(f"pruned after epoch {result.epochs_run}")
    value = callback.best
    if not math.isfinite(value):
        raise TrialRefused(f"{ctx.metric} was never finite")
    return value


class TrialRefused(Exception):
    """A sampled config the config schema refuses, or a trial with no finite value."""
