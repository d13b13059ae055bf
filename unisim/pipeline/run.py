"""``run_pipeline``: the stages in order under one parent run, then the leaderboard.

    result = run_pipeline("configs/train_burgers_golden.yaml", ["training.epochs=2"])
    result.exit_code  # 0 ok, 1 gate failed under strict_exit, 3 a stage crashed

The parent run carries what the lifecycle reads: ``final_nrmse``,
``unisim.gates_passed``, ``unisim.status`` (success|failed), ``summary.json``,
``report.json`` and each stage's wall time (``stage/<name>_s``). Whatever a stage
raises (a NaN loss, a bad checkpoint, a crash) is that stage's failure: exit 3 and
``unisim.failure_reason`` = ``stage <name>: <what happened>``; only Ctrl-C, SIGTERM
and an unreachable tracking server (exit 4) leave the pipeline otherwise.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from unisim import tracking as T
from unisim.config import experiment_name, load_config
from unisim.errors import TrackingUnavailable
from unisim.pipeline.outcome import (
    EXIT_GATES,
    EXIT_OK,
    EXIT_STAGE_FAILED,
    PipelineResult,
    StageFailed,
    StageOutcome,
)
from unisim.pipeline.stages import (
    Context,
    Event,
    Options,
    close_orphans,
    data_stage,
    evaluate_stage,
    train_stage,
)

log = logging.getLogger(__name__)


def _quiet(_: str, __: dict[str, Any]) -> None:
    pass


def _stage(ctx: Context, name: str, fn: Callable[[Context], StageOutcome]) -> StageOutcome:
    """Run one stage: time it, log its wall time, turn a crash into ``StageFailed``."""
    ctx.emit("stage_start", {"stage": name})
    t0 = time.perf_counter()
    try:
        outcome = fn(ctx)
    except StageFailed:
        close_orphans(ctx, name)
        raise
    except (TrackingUnavailable, KeyboardInterrupt):
        raise  # exit 4 (runs journaled) and 130/143: not a stage's fault
    except Exception as exc:  # NaN loss, bad input met mid-stage, a crash: this stage failed
        if T.unreachable(exc):
            raise  # the tracking server, not the stage: the parent journals its end (exit 4)
        raise StageFailed(name, T.describe_error(exc)) from exc
    outcome.seconds = time.perf_counter() - t0
    ctx.parent.metrics.log({T.stage_seconds(name): outcome.seconds})
    ctx.outcomes.append(outcome)
    ctx.emit("stage_end", outcome.to_dict())
    return outcome


def _gates(ctx: Context, outcome: StageOutcome, stage: str) -> None:
    ctx.emit("gates", {"stage": stage, "passed": outcome.gates_passed, "rows": outcome.gates})


def _stages(ctx: Context) -> StageOutcome | None:
    """data -> train -> fast eval -> gates -> full eval -> gates; the full outcome or None."""
    _stage(ctx, "data", data_stage)
    ctx.train_run_id = _stage(ctx, "train", train_stage).run_id
    ctx.parent.set_tags({T.TAG_TRAIN_RUN: ctx.train_run_id})
    fast = _stage(ctx, "eval-fast", lambda c: evaluate_stage(c, "val", T.Stage.FAST))
    _gates(ctx, fast, "fast")
    if not (fast.gates_passed or ctx.options.force_full_eval):
        skipped = StageOutcome("eval-full", "skipped", detail="fast gates failed")
        ctx.outcomes.append(skipped)
        ctx.emit("stage_end", skipped.to_dict())
        return None
    full = _stage(ctx, "eval-full", lambda c: evaluate_stage(c, "test", T.Stage.FULL))
    _gates(ctx, full, "full")
    return full


def run_pipeline(
    config_path: str | Path,
    overrides: list[str] | None = None,
    *,
    target: T.TrackingTarget | None = None,
    force_train: bool = False,
    force_full_eval: bool = False,
    redo_eval: bool = False,
    strict_exit: bool = False,
    auto_promote: bool = False,
    isolate: bool = False,
    tags: dict[str, str] | None = None,
    on_event: Event | None = None,
) -> PipelineResult:
    """Run every stage under one parent run; see the package docstring for the exit codes."""
    overrides = list(overrides or [])
    config_path = str(config_path)
    cfg = load_config(config_path, overrides)  # bad input fails here, before any run
    options = Options(force_train, force_full_eval, redo_eval, strict_exit, auto_promote, isolate)
    store = T.connect(target or T.resolve_tracking())
    experiment = experiment_name(config_path, cfg)
    started = time.perf_counter()

    with T.start_run(
        kind=T.Kind.PIPELINE,
        experiment=experiment,
        target=store.target,
        cfg=cfg,
        config_path=config_path,
        run_name=cfg.tracking.run_name or cfg.name,
        tags=tags,
    ) as parent:
        ctx = Context(
            cfg, config_path, overrides, store, parent, experiment, options, on_event or _quiet
        )
        ctx.emit("start", {"run_id": parent.run_id, "experiment": experiment})
        full: StageOutcome | None = None
        failed: StageFailed | None = None
        try:
            full = _stages(ctx)
        except StageFailed as exc:
            failed = exc
            ctx.outcomes.append(StageOutcome(exc.stage, "failed", detail=exc.reason))
            ctx.emit("stage_end", ctx.outcomes[-1].to_dict())
        result = _record(ctx, full, failed, time.perf_counter() - started, tags or {})
    failed_stage = failed.stage if failed else None

    # after the parent run is closed: leaderboard and promotion read it as finished
    if failed_stage is None:
        _after(result, store, auto_promote, ctx.emit)
    if failed_stage:
        result.exit_code = EXIT_STAGE_FAILED
    elif strict_exit and not result.gates_passed:
        result.exit_code = EXIT_GATES
    return result


def _record(
    ctx: Context,
    full: StageOutcome | None,
    failed: StageFailed | None,
    wall: float,
    tags: dict[str, str],
) -> PipelineResult:
    """Write on the parent run what the lifecycle reads: headline, gates, status, summary."""
    parent = ctx.parent
    failed_stage = failed.stage if failed else None
    reason = f"stage {failed.stage}: {failed.reason}" if failed else None
    evals = [o for o in ctx.outcomes if o.gates_passed is not None]
    gates = [dict(row, stage=o.name.removeprefix("eval-")) for o in evals for row in o.gates]
    gates_passed = not failed_stage and bool(evals) and all(o.gates_passed for o in evals)
    status = T.Status.SUCCESS if gates_passed else T.Status.FAILED
    final_nrmse = full.metrics.get(T.FINAL_NRMSE) if full is not None else None
    headline: dict[str, float] = {T.WALL_CLOCK_S: wall}
    if full is not None:
        headline.update({k: full.metrics[k] for k in T.HEADLINE_METRICS if k in full.metrics})
    dph = tags.get(T.TAG_DPH)
    if dph:
        try:
            headline[T.COST_USD] = float(dph) * wall / 3600.0
        except ValueError:
            log.warning("%s=%r is not a number: no cost_usd", T.TAG_DPH, dph)
    parent.metrics.log(headline)
    parent.metrics.flush()
    parent.set_tags({T.TAG_GATES_PASSED: "true" if gates_passed else "false"})
    parent.set_status(status, reason=reason)
    if full is not None and full.report is not None:
        parent.log_dict(full.report, "report.json")
    links = {
        "runs": T.experiment_url(ctx.target, parent.experiment_id),
        "pipeline": T.run_url(ctx.target, parent.experiment_id, parent.run_id),
        "ui": T.ui_command(ctx.target),
    }
    result = PipelineResult(
        run_id=parent.run_id,
        experiment_id=parent.experiment_id,
        experiment=ctx.experiment,
        status=str(status),
        gates_passed=gates_passed,
        exit_code=EXIT_OK,
        final_nrmse=final_nrmse,
        stages=ctx.outcomes,
        gates=gates,
        failed_stage=failed_stage,
        failure_reason=reason,
        links=links,
    )
    parent.log_dict(result.summary(), "summary.json")
    return result


def _after(result: PipelineResult, store: T.Store, auto_promote: bool, emit: Event) -> None:
    from unisim.reports.leaderboard import write_leaderboard

    paths = write_leaderboard(store.target, store=store)
    emit("leaderboard", {"paths": [str(p) for p in paths or []]})
    if not auto_promote:
        return
    if not result.gates_passed:
        emit("promote", {"skipped": "gates failed"})
        return
    from unisim.registry.promote import promote_run

    promotion = promote_run(result.run_id, target=store.target, auto=True)
    if promotion.promoted:
        text = f"{promotion.model_name} v{promotion.version} is champion ({promotion.url})"
    else:
        text = f"not promoted: {promotion.reason}"
    emit("promote", {"result": text})
