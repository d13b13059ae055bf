"""``train_model``: one config in, one MLflow ``train`` run and its checkpoints out.

    from unisim.training import train_model
    result = train_model(cfg, "experiments/2026-11-29-x/config.yaml")   # -> TrainResult
    result = train_model(cfg, path, resume=True)                        # continue the same run
    result = train_model(cfg, path, parent_run_id=pipeline_run_id)      # child of a pipeline

Order of work: every check that can fail on bad input (config, resume target,
config hash, data) runs before any run is created. Then rank 0 opens the run
(``unisim.kind=train``), logs params, config, dataset input and parameter
count, trains with per-epoch metrics, and at the end logs the best weights as an
MLflow PyTorch model (signature + input example + explicit pip requirements) and
the best checkpoint as an artifact. Under torchrun the other ranks train too but
never create runs or write files.
"""

from __future__ import annotations

import logging
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from unisim.config import Config, config_hash, experiment_name, flatten
from unisim.errors import UnisimError
from unisim.tracking.schema import (
    TAG_BEST_EPOCH,
    TAG_N_PARAMS,
    TAG_STOP_REASON,
    TAG_THREADS,
    TAG_WORLD_SIZE,
    VAL_BEST_NRMSE,
    WALL_CLOCK_S,
)

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    run_id: str | None  # None on ranks > 0
    experiment_id: str | None
    best_val_nrmse: float
    best_epoch: int
    epochs_run: int
    stop_reason: str  # completed | early_stopping | time_budget
    checkpoint_path: str | None  # best.pt
    last_checkpoint_path: str | None
    model_uri: str | None  # runs:/<id>/model
    config_hash: str
    data_hash: str
    n_params: int
    wall_time_s: float
    resumed: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _resume_state(
    cfg: Config,
    ckdir: Path,
    resume: bool,
    resume_run_id: str | None,
    target: Any,
    is_main: bool = True,
) -> tuple[Config, dict[str, Any] | None]:
    """Find and check the checkpoint to resume from; the config it was trained with."""
    from unisim.training.checkpoint import checkpoint_config, find_resume_checkpoint

    if not resume and not resume_run_id:
        return cfg, None
    chash = config_hash(cfg)
    if resume_run_id and is_main:  # only rank 0 talks to MLflow; the others trust the file
        from unisim.tracking import TAG_CONFIG_HASH, connect

        run = connect(target).find_run(resume_run_id)
        if run is None:
            raise UnisimError(f"--resume-run {resume_run_id}: no such run in the store")
        tagged = run.data.tags.get(TAG_CONFIG_HASH)
        if tagged != chash:
            raise UnisimError(
                f"--resume-run {resume_run_id}: run was trained with config hash {tagged}, "
                f"this config has {chash}"
            )
    path, state = find_resume_checkpoint(ckdir, chash, resume_run_id)
    if state.get("finished"):
        raise UnisimError(f"--resume: run {state.get('run_id')} already finished ({path})")
    if not state.get("run_id"):
        raise UnisimError(f"--resume: {path} records no MLflow run to continue")
    stored = checkpoint_config(state, path)
    if flatten(stored) != flatten(cfg):  # only unhashed sections can differ here
        log.warning(
            "resuming with the checkpoint's config: later edits outside seed/data/model/training "
            "(evaluation, gates, tracking) are ignored for this run"
        )
    log.info("resuming run %s from %s (epoch %d)", state["run_id"], path, state["epoch"])
    return stored, state


def _log_final_model(run: Any, trainer: Any, best_path: Path, example: np.ndarray) -> str:
    """Log the best (EMA) weights as the run's model; returns its runs:/ URI."""
    import copy

    from unisim.training.checkpoint import load_model_from_checkpoint

    if best_path.is_file():
        model, _ = load_model_from_checkpoint(best_path)
    else:  # no checkpoint folder (never the case from train_model): the current weights
        model = copy.deepcopy(trainer.eval_model).cpu().eval()
    # serialization_format="pickle", not MLflow 3's default pt2 (torch.export): the exported
    # graph keeps only the traced inputs, so the loaded module's forward is (u) and rejects
    # the nu= keyword of the surrogate contract, and exporting costs 5-20 s per run on CPU.
    # Pickle loads the real class (any batch size, nu, encode/decode) wherever unisim is
    # importable. tests/test_training.py loads it back and calls it with another batch size.
    # The pickle names unisim's classes: the model carries the code it needs (models/code.py),
    # so it also loads where unisim is not installed.
    from unisim.models.code import model_code

    mlflow_log = logging.getLogger("mlflow.pytorch")
    level = mlflow_log.level
    mlflow_log.setLevel(logging.ERROR)  # its pickle warning: a deliberate choice, see above
    try:
        with model_code() as code_paths:
            return run.log_model(
                model,
                input_example=example,
                serialization_format="pickle",
                code_paths=code_paths,
                pip_requirements=_requirements(model),
            )
    finally:
        mlflow_log.setLevel(level)


def _requirements(model: Any) -> list[str]:
    """The logged model's pins: torch, numpy, mlflow, plus neuraloperator for its FNO."""
    from importlib.metadata import version

    from unisim.tracking import default_pip_requirements

    reqs = default_pip_requirements()
    if any(type(m).__module__.startswith("neuralop.") for m in model.modules()):
        reqs.append(f"neuraloperator=={version('neuraloperator')}")
    return reqs


def train_model(
    cfg: Config,
    config_path: str | Path | None = None,
    *,
    target: Any = None,
    parent_run_id: str | None = None,
    resume: bool = False,
    resume_run_id: str | None = None,
    show_progress: bool = True,
    callbacks: list[Any] | None = None,
    splits: Any = None,
    run_name: str | None = None,
    kind: str | None = None,
    tags: dict[str, str] | None = None,
    log_model: bool = True,
    checkpoints: Path | None = None,
) -> TrainResult:
    """Train ``cfg`` and log it as one MLflow ``train`` run (see the module docstring).

    ``target`` is a ``TrackingTarget`` (default: ``resolve_tracking()``); ``splits``
    replaces ``load_data(cfg.data)`` (tests, benchmarks, sweeps); ``callbacks`` are extra
    loop callbacks; ``run_name`` names the run (default ``tracking.run_name``, else
    ``train``). Sweeps: ``kind`` (``trial``) and ``tags`` for the run, ``log_model=False``
    (no model or checkpoint artifact), ``checkpoints`` (a folder of the trial's own).
    """
    from unisim.training.distributed import barrier, init_distributed, shutdown

    t_start = time.perf_counter()
    dist = init_distributed(cfg.training.device)
    try:
        result = _train(
            cfg,
            config_path,
            dist=dist,
            target=target,
            parent_run_id=parent_run_id,
            resume=resume,
            resume_run_id=resume_run_id,
            show_progress=show_progress,
            callbacks=list(callbacks or []),
            splits=splits,
            t_start=t_start,
            run_name=run_name,
            kind=kind,
            tags=tags,
            log_model=log_model,
            checkpoints=checkpoints,
        )
        # Every rank leaves together: a worker that tore down its group while rank 0 was
        # still logging the model died in gloo's destructor (SIGABRT) on a busy machine.
        barrier(dist)
        return result
    finally:
        shutdown(dist)


def _load_splits(cfg: Config, dist: Any) -> Any:
    from unisim.data import load_data
    from unisim.training.distributed import barrier

    # Training reads train and val only: the test split is for the full evaluation alone.
    needed = ("train", "val")
    if dist.is_main:  # rank 0 generates (or reuses) the cache; the others then read it
        splits = load_data(cfg.data, splits=needed)
    barrier(dist)
    if not dist.is_main:
        splits = load_data(cfg.data, splits=needed)
    return splits


def _train(
    cfg: Config,
    config_path: str | Path | None,
    *,
    dist: Any,
    target: Any,
    parent_run_id: str | None,
    resume: bool,
    resume_run_id: str | None,
    show_progress: bool,
    callbacks: list[Any],
    splits: Any,
    t_start: float,
    run_name: str | None = None,
    kind: str | None = None,
    tags: dict[str, str] | None = None,
    log_model: bool = True,
    checkpoints: Path | None = None,
) -> TrainResult:
    from unisim.models import build_model
    from unisim.tracking import TAG_FAILURE_REASON, Kind, resolve_tracking, start_run
    from unisim.training.checkpoint import BEST, LAST, checkpoint_dir
    from unisim.training.distributed import pick_device
    from unisim.training.mlflow_callback import MlflowCallback
    from unisim.training.threads import apply_threads, resolve_threads
    from unisim.training.trainer import Trainer, seed_everything

    target = target or resolve_tracking()
    ckdir = checkpoints or checkpoint_dir(cfg, config_path)
    cfg, state = _resume_state(cfg, ckdir, resume, resume_run_id, target, dist.is_main)
    chash = config_hash(cfg)

    splits = splits if splits is not None else _load_splits(cfg, dist)
    if state is not None and state.get("data_hash") not in (None, splits.data_hash):
        raise UnisimError(
            f"--resume: the data changed since the checkpoint (hash {state['data_hash']} -> "
            f"{splits.data_hash}); train without --resume"
        )

    threads = apply_threads(resolve_threads(cfg.training.threads, dist.world_size))
    seed_everything(cfg.seed)
    device = pick_device(cfg.training.device, dist)
    model = build_model(cfg)
    if splits.train.shape[-1] != model.nx or splits.train.shape[1] <= cfg.model.context:
        raise UnisimError(
            f"data: trajectories {splits.train.shape[1:]} (nt, nx) do not fit the model "
            f"(nx={model.nx}, context={cfg.model.context})"
        )
    trainer = Trainer(
        cfg,
        model,
        splits.train,
        splits.val,
        device=device,
        dist=dist,
        checkpoint_dir=ckdir,
        meta={"data_hash": splits.data_hash, "run_id": state["run_id"] if state else None},
        train_cond=splits.conditioning("train"),
        val_cond=splits.conditioning("val"),
    )
    if state is not None:
        trainer.load_state_dict(state)
    example = np.ascontiguousarray(splits.val[:2, : cfg.model.context], dtype=np.float32)

    if not dist.is_main:  # ranks > 0: train in step with rank 0, no MLflow, no files
        fit = trainer.fit(callbacks)
        return TrainResult(
            None, None, fit.best_val_nrmse, fit.best_epoch, fit.epochs_run, fit.stop_reason,
            None, None, None, chash, splits.data_hash, trainer.n_params,
            time.perf_counter() - t_start, state is not None,
        )  # fmt: skip

    if show_progress:
        from unisim.training.progress import RichProgress

        callbacks = [*callbacks, RichProgress()]
    with start_run(
        kind=kind or Kind.TRAIN,
        experiment=experiment_name(config_path, cfg),
        target=target,
        cfg=cfg,
        config_path=config_path,
        parent_run_id=parent_run_id,
        resume_run_id=state["run_id"] if state else None,
        run_name=run_name or cfg.tracking.run_name or "train",
        tags={
            TAG_N_PARAMS: str(trainer.n_params),
            TAG_WORLD_SIZE: str(dist.world_size),
            TAG_THREADS: str(threads),
            **(tags or {}),
        },
    ) as run:
        trainer.meta["run_id"] = run.run_id
        if state is not None:  # an earlier session may have ended FAILED; this one goes on
            if TAG_FAILURE_REASON in run.tags:
                run.delete_tag(TAG_FAILURE_REASON)
        else:
            run.log_params({"n_params": str(trainer.n_params)})
            with warnings.catch_warnings():  # MLflow warns that a local file source is ambiguous
                warnings.simplefilter("ignore", UserWarning)
                run.log_dataset(
                    name=Path(splits.path).stem, source=str(splits.path), digest=splits.data_hash
                )
        mlflow_cb = MlflowCallback(run, resumed=state is not None)
        fit = trainer.fit([mlflow_cb, *callbacks])

        best_path, last_path = ckdir / BEST, ckdir / LAST
        model_uri = _log_final_model(run, trainer, best_path, example) if log_model else None
        if best_path.is_file() and log_model:
            run.log_artifact(best_path, "checkpoints")
        mlflow_cb.log_final({VAL_BEST_NRMSE: fit.best_val_nrmse, WALL_CLOCK_S: trainer.elapsed_s})
        run.set_tags({TAG_STOP_REASON: fit.stop_reason, TAG_BEST_EPOCH: fit.best_epoch})
        trainer.save(last_path, finished=True)  # a later --resume refuses a finished run
        log.info(
            "run %s: best val/nrmse %.5g at epoch %d (%s)",
            run.run_id, fit.best_val_nrmse, fit.best_epoch, fit.stop_reason,
        )  # fmt: skip
        return TrainResult(
            run_id=run.run_id,
            experiment_id=run.experiment_id,
            best_val_nrmse=fit.best_val_nrmse,
            best_epoch=fit.best_epoch,
            epochs_run=fit.epochs_run,
            stop_reason=fit.stop_reason,
            checkpoint_path=str(best_path) if best_path.is_file() else None,
            last_checkpoint_path=str(last_path),
            model_uri=model_uri,
            config_hash=chash,
            data_hash=splits.data_hash,
            n_params=trainer.n_params,
            wall_time_s=time.perf_counter() - t_start,
            resumed=state is not None,
        )
