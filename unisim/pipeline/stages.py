"""The pipeline's stages: one function each, a shared context in, a ``StageOutcome`` out.

    ctx = Context(cfg=cfg, config_path=path, overrides=[], store=store, parent=run, ...)
    data_stage(ctx); train_stage(ctx); evaluate_stage(ctx, "val", "fast")

A stage either runs its work in this process or, with ``options.isolate``, as
``unisim train|evaluate ... --result-json F`` in a subprocess (a crash then marks
that stage's run FAILED and the pipeline names the stage). Reuse: a finished train
run with the same config and data hash, and a finished evaluation with the same
evaluation key, are taken as they are unless forced; an interrupted train run of the
same config and data (KILLED, or cut off by a server outage) continues from its
checkpoint in the same run.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from unisim import tracking as T
from unisim.config import Config, config_hash, content_hash, to_dict
from unisim.naming import train_run_name
from unisim.pipeline.outcome import StageFailed, StageOutcome

Event = Callable[[str, dict[str, Any]], None]
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Options:
    """How ``unisim run`` was asked to behave."""

    force_train: bool = False
    force_full_eval: bool = False
    redo_eval: bool = False
    strict_exit: bool = False
    auto_promote: bool = False
    isolate: bool = False
    seeds: tuple[int, ...] = ()  # overrides the config's `seeds`


@dataclass
class Context:
    """What every stage reads, and what earlier stages left for later ones."""

    cfg: Config
    config_path: str
    overrides: list[str]
    store: T.Store
    parent: T.TrackedRun
    experiment: str
    options: Options
    emit: Event
    data_hash: str | None = None
    outcomes: list[StageOutcome] = field(default_factory=list)
    chosen: StageOutcome | None = None  # the train stage the pipeline stands for

    @property
    def target(self) -> T.TrackingTarget:
        return self.store.target

    @property
    def seeds(self) -> tuple[int, ...]:
        """The training seeds: --seeds, else the config's ``seeds``, else its ``seed``."""
        return self.options.seeds or self.cfg.seeds or (self.cfg.seed,)

    def cfg_for(self, seed: int) -> Config:
        """The single-seed config one train run uses (hash and reuse as a plain run)."""
        if seed == self.cfg.seed and not self.cfg.seeds:
            return self.cfg
        return self.cfg.model_copy(update={"seed": seed, "seeds": ()})

    def overrides_for(self, seed: int) -> list[str]:
        """``--set`` items that make a subprocess train or evaluate that seed's config."""
        if seed == self.cfg.seed and not self.cfg.seeds:
            return self.overrides
        return [*self.overrides, f"seed={seed}", "seeds=[]"]


def eval_key(cfg: Config, train_run_id: str, data_hash: str, stage: str) -> str:
    """Identity of an evaluation: model, data, stage, and the evaluation/gate settings."""
    data = to_dict(cfg)
    return content_hash([train_run_id, data_hash, stage, data["evaluation"], data["gates"]])


# ---------------------------------------------------------------- isolation


def run_isolated(stage: str, args: list[str], target: T.TrackingTarget) -> StageOutcome:
    """Run ``unisim ARGS --result-json F`` as a subprocess; the outcome it wrote."""
    with tempfile.TemporaryDirectory(prefix="unisim-stage-") as tmp:
        out = Path(tmp) / "result.json"
        cmd = [sys.executable, "-m", "unisim", *args, "--result-json", str(out)]
        cmd += ["--tracking-uri", target.uri]
        env = {**os.environ, "MLFLOW_TRACKING_URI": target.uri}
        proc = subprocess.Popen(cmd, env=env, stderr=subprocess.PIPE, text=True)
        try:
            _, stderr = proc.communicate()
        except KeyboardInterrupt as exc:
            _stop(proc, exc)
            raise
        if proc.returncode != 0 or not out.is_file():
            lines = [ln for ln in (stderr or "").strip().splitlines() if ln.strip()]
            reason = lines[-1] if lines else f"exit code {proc.returncode}"
            raise StageFailed(stage, f"subprocess exited {proc.returncode}: {reason}")
        return StageOutcome.read(out)


STOP_WAIT_S = 60  # how long an interrupted stage may take to end its run before it is killed


def _stop(proc: subprocess.Popen, exc: KeyboardInterrupt) -> None:
    """Let an interrupted stage end its own run KILLED: pass SIGTERM on (Ctrl-C reached the
    whole process group already), wait for it, and kill it only if it hangs. What the
    stage said while stopping (a run end left in the journal, say) goes on to stderr."""
    from unisim.errors import Terminated

    if isinstance(exc, Terminated):
        proc.send_signal(signal.SIGTERM)  # a `kill` of this process alone: tell the stage
    try:
        _, stderr = proc.communicate(timeout=STOP_WAIT_S)  # drains stderr: it never blocks
    except subprocess.TimeoutExpired:
        proc.kill()
        _, stderr = proc.communicate()
        log.warning("the stage did not stop within %d s of the signal: killed", STOP_WAIT_S)
    said = [ln for ln in (stderr or "").splitlines() if ln.strip()]
    for line in said[-20:]:
        if line.strip() not in ("interrupted", "terminated (SIGTERM)"):  # this process says it
            print(line, file=sys.stderr)


def close_orphans(ctx: Context, stage: str, interrupt: KeyboardInterrupt | None = None) -> None:
    """End the runs a stage left RUNNING: FAILED after a crash (a killed subprocess cannot
    end its own), KILLED after Ctrl-C or SIGTERM (a stage killed because it hung)."""
    from unisim.errors import interrupt_reason

    reason = f"stage {stage} crashed" if interrupt is None else interrupt_reason(interrupt)
    end = "FAILED" if interrupt is None else "KILLED"
    for run in ctx.store.children(ctx.parent.run_id, ctx.parent.experiment_id, running=True):
        ctx.store.set_status(run.info.run_id, T.Status.FAILED, reason=reason, end=end)


# ---------------------------------------------------------------- the stages


def data_stage(ctx: Context) -> StageOutcome:
    """Generate (or reuse the cached) dataset; a ``data`` child run records its lineage."""
    from unisim.data import load_data

    with T.start_run(
        kind=T.Kind.DATA,
        experiment=ctx.experiment,
        target=ctx.target,
        config_path=ctx.config_path,
        parent_run_id=ctx.parent.run_id,
        run_name="data",
    ) as child:
        splits = load_data(
            ctx.cfg.data,
            progress=lambda done, total: ctx.emit(
                "progress", {"stage": "data", "done": done, "total": total}
            ),
        )
        child.log_dataset(**splits.lineage())
        child.log_params(
            {
                "n_train": str(len(splits.train)),
                "n_val": str(len(splits.val)),
                "n_test": str(len(splits.test)),
                "shape": json.dumps(list(splits.train.shape[1:])),
            }
        )
    ctx.data_hash = splits.data_hash
    ctx.parent.set_tags({T.TAG_DATA_HASH: splits.data_hash})
    return StageOutcome("data", run_id=child.run_id, detail=str(splits.path))


def _resumable(ctx: Context, cfg: Config) -> str | None:
    """An interrupted train run of this config and data whose checkpoint can continue it
    (the bit-identical resume of ``unisim train --resume``), or None."""
    from unisim.errors import UnisimError
    from unisim.training.checkpoint import checkpoint_dir, find_resume_checkpoint

    assert ctx.data_hash is not None
    chash = config_hash(cfg)
    run = ctx.store.find_interrupted_train_run(ctx.parent.experiment_id, chash, ctx.data_hash)
    if run is None:
        return None
    folder = checkpoint_dir(cfg, ctx.config_path)
    try:
        _, state = find_resume_checkpoint(folder, chash, run.info.run_id)
    except UnisimError as exc:  # no checkpoint, or one of another run: train anew
        log.info("not resuming train run %s: %s", run.info.run_id, exc)
        return None
    if state.get("finished") or state.get("data_hash") not in (None, ctx.data_hash):
        return None
    return run.info.run_id


def train_stage(ctx: Context, seed: int) -> StageOutcome:
    """Train one seed, reuse a finished train run with the same config and data hash, or
    resume an interrupted one from its checkpoint."""
    assert ctx.data_hash is not None
    cfg = ctx.cfg_for(seed)
    resume: str | None = None
    if not ctx.options.force_train:
        done = ctx.store.find_train_run(ctx.parent.experiment_id, config_hash(cfg), ctx.data_hash)
        if done is not None:
            best = T.read_metric(done.data.metrics, T.VAL_BEST_NRMSE)
            return StageOutcome(
                "train",
                "reused",
                run_id=done.info.run_id,
                metrics={T.VAL_BEST_NRMSE: best} if best is not None else {},
                detail="same config hash and data hash",
                seed=seed,
            )
        resume = _resumable(ctx, cfg)
    run_name = train_run_name(seed, len(ctx.seeds))
    if ctx.options.isolate:
        args = ["train", ctx.config_path, "--parent-run-id", ctx.parent.run_id]
        args += ["--resume-run", resume] if resume else []
        args += ["--run-name", run_name]
        for item in ctx.overrides_for(seed):
            args += ["--set", item]
        return _resumed(replace(run_isolated("train", args, ctx.target), seed=seed), resume)
    from unisim.training import train_model

    result = train_model(
        cfg,
        ctx.config_path,
        target=ctx.target,
        parent_run_id=ctx.parent.run_id,
        resume_run_id=resume,
        run_name=run_name,
    )
    return _resumed(StageOutcome.from_train(result, seed=seed), resume)


def _resumed(outcome: StageOutcome, resume: str | None) -> StageOutcome:
    if resume:
        outcome.detail = f"resumed run {resume}: {outcome.detail}"
    return outcome


def evaluate_stage(
    ctx: Context, split: str, stage: str, train_run_id: str, seed: int
) -> StageOutcome:
    """Evaluate one seed's model on ``split`` (fast: val, full: test) and gate it."""
    assert ctx.data_hash is not None
    name = f"eval-{stage}"
    cfg = ctx.cfg_for(seed)
    key = eval_key(cfg, train_run_id, ctx.data_hash, stage)
    done = None
    if not ctx.options.redo_eval:
        done = ctx.store.find_evaluation(ctx.parent.experiment_id, key)
    if done is not None:
        report = ctx.store.read_json(done.info.run_id, "report.json") or {}
        passed = done.data.tags.get(T.TAG_GATES_PASSED) == "true"
        return StageOutcome(
            name,
            "reused",
            run_id=done.info.run_id,
            metrics=dict(done.data.metrics),
            detail="gates passed" if passed else "gates FAILED",
            gates_passed=passed,
            gates=report.get("gates", []),
            report=report,
            seed=seed,
            per_trajectory=(report.get("per_trajectory") or {}).get(T.FINAL_NRMSE, []),
        )
    if ctx.options.isolate:
        args = ["evaluate", train_run_id, "--split", split, "--parent-run-id"]
        args += [ctx.parent.run_id, "--eval-key", key]
        if stage == T.Stage.FULL:  # as in process: persistence/FNO ratios on the full stage
            args.append("--baselines")
        args += ["--config", ctx.config_path]
        for item in ctx.overrides_for(seed):
            args += ["--set", item]
        return replace(run_isolated(name, args, ctx.target), name=name, seed=seed)
    from unisim.evaluation import run_evaluation

    result = run_evaluation(
        train_run_id,
        cfg=cfg,
        config_path=ctx.config_path,
        split=split,
        stage=stage,
        target=ctx.target,
        parent_run_id=ctx.parent.run_id,
        baseline_models=stage == T.Stage.FULL,
        extra_tags={T.TAG_EVAL_KEY: key},
    )
    return StageOutcome.from_eval(name, result, seed=seed)
