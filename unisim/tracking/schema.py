"""The run and tag schema shared by every unisim run (the contract in DESIGN.md).

    from unisim.tracking.schema import Kind, Status, TAG_KIND, FINAL_NRMSE
    tags = {TAG_KIND: Kind.TRAIN, TAG_STATUS: Status.RUNNING}

Every tag name, metric key, run kind and lifecycle status lives here, once. Other
modules import the constants; nobody spells ``"unisim.status"`` or
``"final_nrmse"`` by hand. This module imports nothing beyond the standard library.
"""

from __future__ import annotations

from enum import Enum


class _Str(str, Enum):
    """A string enum whose value is what MLflow stores (``str(Kind.TRAIN) == "train"``)."""

    def __str__(self) -> str:
        return self.value


class Kind(_Str):
    """``unisim.kind``: what a run is."""

    PIPELINE = "pipeline"
    DATA = "data"
    TRAIN = "train"
    EVALUATE = "evaluate"
    SWEEP = "sweep"
    TRIAL = "trial"
    SUITE = "suite"  # `unisim suite`: the parent of one pipeline per PDE golden config


class Status(_Str):
    """``unisim.status``: a run's lifecycle label (MLflow's own state is separate)."""

    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    PROMOTED = "promoted"
    ARCHIVED = "archived"


class TrialState(_Str):
    """``unisim.trial_state`` of a trial run (Optuna's state, in MLflow's tags)."""

    RUNNING = "running"
    COMPLETE = "complete"
    PRUNED = "pruned"
    FAIL = "fail"


class Stage(_Str):
    """``unisim.stage`` of an evaluation: fast (validation) or full (test)."""

    FAST = "fast"
    FULL = "full"


# ---------------------------------------------------------------- run tags
TAG_KIND = "unisim.kind"
TAG_STAGE = "unisim.stage"
TAG_STATUS = "unisim.status"
TAG_FINAL_STATUS = "unisim.final_status"  # the status before archiving
TAG_GATES_PASSED = "unisim.gates_passed"  # true | false
TAG_EXPERIMENT_DIR = "unisim.experiment_dir"  # repo-relative experiments/NAME
TAG_CONFIG_HASH = "unisim.config_hash"  # seed, data, model, training
TAG_DATA_HASH = "unisim.data_hash"
TAG_GIT_COMMIT = "unisim.git_commit"
TAG_GIT_DIRTY = "unisim.git_dirty"
TAG_PARENT_RUN = "unisim.parent_run"
TAG_FAILURE_REASON = "unisim.failure_reason"
TAG_MODEL_VERSION = "unisim.model_version"  # set by promote
TAG_MODEL_NAME = "unisim.model_name"
TAG_EVALUATED_RUN = "unisim.evaluated_run"  # on an evaluate run: the train run
TAG_MODEL_SOURCE = "unisim.model_source"  # on an evaluate run: what the user passed
TAG_SPLIT = "unisim.split"  # on an evaluate run
TAG_CONDITION_ON = "unisim.condition_on"  # on an evaluate run told other coefficients
TAG_SUITE_FILE = "unisim.suite_file"  # on a suite run: the suite file it ran
TAG_TRAIN_RUN = "unisim.train_run"  # on a pipeline run: its train child (maybe reused)
TAG_EVAL_KEY = "unisim.eval_key"  # on an evaluate run: model, data, stage, settings
TAG_METRICS_UNSENT = "unisim.metrics_unsent"  # points waiting in the local journal
TAG_N_PARAMS = "unisim.n_params"
TAG_STOP_REASON = "unisim.stop_reason"  # completed | early_stopping | time_budget
TAG_BEST_EPOCH = "unisim.best_epoch"
TAG_WORLD_SIZE = "unisim.world_size"  # training processes (torchrun workers)
TAG_THREADS = "unisim.threads"  # torch CPU threads per process (training.threads)
TAG_DPH = "unisim.dph"  # rented-instance price, USD per hour (for cost_usd)
TAG_VAST_INSTANCE = "unisim.vast_instance"  # pipeline runs on Vast.ai: the instance id
TAG_GPU = "unisim.gpu"
TAG_CHOSEN_SEED = "unisim.chosen_seed"  # on a pipeline run: the seed its train_run used
# Sweeps (unisim/sweep/): a sweep run (kind=sweep) and one nested trial run per Optuna trial.
TAG_STUDY = "unisim.study"  # on sweep and trial runs: the Optuna study name
TAG_TRIAL = "unisim.trial"  # on a trial run: the trial number
TAG_TRIAL_STATE = "unisim.trial_state"  # running | complete | pruned | fail
TAG_BEST_TRIAL = "unisim.best_trial"  # on a sweep run: the best trial's number
TAG_BEST_RUN = "unisim.best_run"  # on a sweep run: the best trial's MLflow run
TAG_SWEEP_METRIC = "unisim.sweep_metric"  # on a sweep run: the objective (val/nrmse)
TAG_SWEEP_BEST_DIR = "unisim.sweep_best_dir"  # on a sweep run: experiments/DATE-NAME-sweep-best
# What makes two numbers comparable (PDE and coefficients, grid, splits, context, horizon,
# metric version): a short hash and a readable summary, on runs and registered versions.
TAG_PROTOCOL = "unisim.protocol"
TAG_PROTOCOL_SUMMARY = "unisim.protocol_summary"
TAG_ARCHIVED_AT = "unisim.archived_at"  # experiment tag
TAG_HOST = "unisim.host"  # the machine whose process opened the run (stale-run detection)
TAG_PID = "unisim.pid"  # ... that process's id
TAG_PID_START = "unisim.pid_start"  # ... and its start time (epoch s): a reused pid differs
TAG_GATE_PREFIX = "unisim.gate"  # unisim.gate.<metric>.<check> = pass | fail | provisional
VERSION_TAG_PREFIX = "unisim."  # unisim.<package>_version
MLFLOW_PARENT_TAG = "mlflow.parentRunId"
MLFLOW_RUN_NAME_TAG = "mlflow.runName"
MLFLOW_NOTE_TAG = "mlflow.note.content"  # the run's description in the MLflow UI (Markdown)

# The failure reason of a run whose end the server could not be told (unisim sync writes it).
OUTAGE_REASON = "tracking server unreachable"

# The old module-level names, kept so `tracking.STATUS_SUCCESS` and friends still work.
STATUS_RUNNING, STATUS_SUCCESS, STATUS_FAILED = "running", "success", "failed"
STATUS_PROMOTED, STATUS_ARCHIVED = "promoted", "archived"


def gate_tag(metric: str, check: str) -> str:
    """``unisim.gate.final_nrmse.threshold``: one tag per gate row."""
    return f"{TAG_GATE_PREFIX}.{metric}.{check}"


# ---------------------------------------------------------------- metric keys
# Names say what kind of number they are, so two of them cannot be mistaken for each other
# (docs/PIPELINE_ARCHITECTURE.md, "Metric names"):
#   no "/"      a scalar, logged once without a step: the test-split evaluation (headline
#               family: final_nrmse, one_step_nrmse, ...) or a run total (wall_clock_s)
#   train/ val/ per-epoch training curves, step = epoch (val/nrmse: rollout on val)
#   fit/        training summaries, logged once (fit/best_val_nrmse)
#   eval_val/   a validation-split evaluation copied onto the train run (never the headline)
#   horizon/    per rollout step, step = predicted frame (horizon/rollout_nrmse)
#   seed/       one point per seed, step = seed; stage/: a pipeline stage's seconds
FINAL_NRMSE = "final_nrmse"  # the headline: rollout nRMSE on the test split
# On a pipeline run: the headline is the mean over seeds; its spread and 95% bootstrap
# interval over seeds and trajectories (evaluation/statistics.py) sit beside it.
FINAL_NRMSE_STD = "final_nrmse_std"
FINAL_NRMSE_LOW = "final_nrmse_low"
FINAL_NRMSE_HIGH = "final_nrmse_high"
SEED_FINAL_NRMSE = "seed/final_nrmse"  # per seed, step = seed
N_SEEDS = "n_seeds"
WORST_DECILE_NRMSE = "worst_decile_nrmse"  # mean of the worst 10% of trajectories
ONE_STEP_NRMSE = "one_step_nrmse"
CONSERVATION_GAP = "conservation_gap"
ENERGY_VIOLATION = "energy_violation"
WALL_CLOCK_S = "wall_clock_s"
COST_USD = "cost_usd"
N_PARAMS = "n_params"  # a param on train runs
TRAIN_LOSS = "train/loss"
VAL_NRMSE = "val/nrmse"  # per epoch, step = epoch
VAL_BEST_NRMSE = "fit/best_val_nrmse"  # once, at the end of training (no step)
SWEEP_BEST = "sweep/best_value"  # on a sweep run: the best trial's objective (validation)
SWEEP_FINISHED = "sweep/finished_trials"  # complete + pruned trials in the study
ROLLOUT_CURVE = "horizon/rollout_nrmse"  # per rollout step, step 1 = first predicted frame
ONE_STEP_CURVE = "horizon/one_step_nrmse"
HEADLINE_METRICS = (FINAL_NRMSE, ONE_STEP_NRMSE, CONSERVATION_GAP, ENERGY_VIOLATION)
# What older unisim called them: readers fall back to these for runs logged before.
LEGACY_METRICS = {
    VAL_BEST_NRMSE: "val/best_nrmse",
    ROLLOUT_CURVE: "rollout/nrmse",
    ONE_STEP_CURVE: "one_step/nrmse",
    "eval_val/final_nrmse": "val/final_nrmse",
    "eval_val/one_step_nrmse": "val/one_step_nrmse",
}


def split_metric(split: str, key: str) -> str:
    """The name of an evaluation metric on the train run: ``final_nrmse`` on test,
    ``eval_val/final_nrmse`` on val, so a validation figure is never mistaken for the
    headline nor for the per-epoch ``val/nrmse`` curve."""
    return key if split == "test" else f"eval_{split}/{key}"


def read_metric(metrics: dict[str, float], key: str) -> float | None:
    """``metrics[key]``, else the value under its older name (``LEGACY_METRICS``)."""
    if key in metrics:
        return metrics[key]
    old = LEGACY_METRICS.get(key)
    return metrics.get(old) if old else None


def stage_seconds(stage: str) -> str:
    """``stage/train_s``: a pipeline stage's wall time, on the pipeline run."""
    return f"stage/{stage}_s"


# ---------------------------------------------------------------- the registry
ALIAS_CHAMPION = "champion"
ALIAS_PREVIOUS = "previous-champion"
STAGE_PRODUCTION = "Production"  # legacy stage, set on request
TAG_CHAMPION_HISTORY = "unisim.champion_history"  # registered-model tag: "1,3,5", oldest first
LEASE_SUFFIX = ".promotion-lease"  # registered model <name>.promotion-lease: the promotion lease
TAG_LEASE_HOLDER = "unisim.lease_holder"  # on the lease model: host, pid, token
TAG_LEASE_EXPIRES = "unisim.lease_expires"  # on the lease model: epoch seconds
VTAG_RUN = "unisim.run_id"  # the promoted (pipeline) run
VTAG_TRAIN_RUN = "unisim.train_run"  # the run that logged the model
VTAG_EXPERIMENT = "unisim.experiment"
VTAG_FINAL_NRMSE = "unisim.final_nrmse"
VTAG_ONE_STEP_NRMSE = "unisim.one_step_nrmse"
VTAG_CONFIG_HASH = TAG_CONFIG_HASH
VTAG_DATA_HASH = TAG_DATA_HASH
VTAG_GATES_PASSED = TAG_GATES_PASSED
VTAG_PROMOTED_AT = "unisim.promoted_at"
VTAG_PROMOTED_BY = "unisim.promoted_by"  # cli | auto
VTAG_PRODUCTION_CONFIG = "unisim.production_config"  # configs/train_<name>.yaml it wrote
VTAG_PROTOCOL = TAG_PROTOCOL
VTAG_PROTOCOL_SUMMARY = TAG_PROTOCOL_SUMMARY

# The champion's metrics, cached on its model version per data and trajectory selection.
CACHE_PREFIX = "unisim.eval_cache"
CACHE_VERSION = "v1"  # bump when a metric definition changes: old cache entries are ignored


def champion_cache_tag(selection_key: str, data_hash: str) -> str:
    """``unisim.eval_cache.v1.test.s1.mall.<data hash>``: one cached evaluation."""
    return f"{CACHE_PREFIX}.{CACHE_VERSION}.{selection_key}.{data_hash}"


def champion_cache_prefix(split: str) -> str:
    """The cache tags of every evaluation of one split start with this."""
    return f"{CACHE_PREFIX}.{CACHE_VERSION}.{split}."
