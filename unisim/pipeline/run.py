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
from unisim.naming import pipeline_run_name
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
from unisim.pipeline.summary import attach_plots, describe

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
    except TrackingUnavailable:
        raise  # exit 4 (runs journaled): not a stage's fault
    except KeyboardInterrupt as exc:  # 130/143: every run of the stage ends KILLED
        try:
            close_orphans(ctx, name, exc)
        except Exception as err:  # the server may be what is gone: the journal has the rest
            log.warning("stage %s: runs left open: %s", name, T.describe_error(err))
        raise
    except Exception as exc:  # NaN loss, bad input met mid-stage, a crash: this stage failed
        if T.unreachable(exc):
            raise  # the tracking server, not the stage: the parent journals its end (exit 4)
        raise StageFailed(name, T.describe_error(exc)) from exc
    outcome.seconds = time.perf_counter() - t0
    ctx.parent.metrics.log({T.stage_seconds(name): outcome.seconds})
    ctx.outcomes.append(outcome)
    ctx.emit("stage_end", outcome.to_dict())
    return outcome


def _gates(ctx: Context, outcomes: list[StageOutcome], stage: str) -> None:
    for o in outcomes:
        rows = [dict(row, seed=o.seed) for row in o.gates]
        ctx.emit("gates", {"stage": stage, "passed": o.gates_passed, "rows": rows})


def _stages(ctx: Context) -> list[StageOutcome]:
    """data -> train -> fast eval -> gates -> full eval -> gates, each seed in turn.

    Returns the full evaluations (one per seed), or [] when the fast gates stopped it.
    The model the pipeline stands for (``unisim.train_run``, promoted later) is the seed
    with the best validation nRMSE: chosen on validation, never on test.
    """
    _stage(ctx, "data", data_stage)
    trains = [_stage(ctx, "train", lambda c, s=s: train_stage(c, s)) for s in ctx.seeds]
    chosen = min(trains, key=lambda o: o.metrics.get(T.VAL_BEST_NRMSE, float("inf")))
    ctx.chosen = chosen
    ctx.parent.set_tags({T.TAG_TRAIN_RUN: chosen.run_id, T.TAG_CHOSEN_SEED: chosen.seed})
    fast = [
        _stage(ctx, "eval-fast", lambda c, o=o: evaluate_stage(c, "val", "fast", o.run_id, o.seed))
        for o in trains
    ]
    _gates(ctx, fast, "fast")
    if not (all(o.gates_passed for o in fast) or ctx.options.force_full_eval):
        skipped = StageOutcome("eval-full", "skipped", detail="fast gates failed")
        ctx.outcomes.append(skipped)
        ctx.emit("stage_end", skipped.to_dict())
        return []
    full = [
        _stage(ctx, "eval-full", lambda c, o=o: evaluate_stage(c, "test", "full", o.run_id, o.seed))
        for o in trains
    ]
    _gates(ctx, full, "full")
    # the chosen seed's full evaluation first: its report.json goes on the pipeline run
    return sorted(full, key=lambda o: o.seed != chosen.seed)


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
    seeds: list[int] | tuple[int, ...] = (),
    parent_run_id: str | None = None,
) -> PipelineResult:
    """Run every stage under one parent run; see the package docstring for the exit codes.

    ``parent_run_id`` nests the pipeline run under another (``unisim suite``).
    """
    overrides = list(overrides or [])
    config_path = str(config_path)
    cfg = load_config(config_path, overrides)  # bad input fails here, before any run
    from unisim.data.store import check_data

    check_data(cfg.data)  # so does a grid too coarse for the PDE's coefficients
    options = Options(
        force_train, force_full_eval, redo_eval, strict_exit, auto_promote, isolate, tuple(seeds)
    )
    store = T.connect(target or T.resolve_tracking())
    experiment = experiment_name(config_path, cfg)
    started = time.perf_counter()

    with T.start_run(
        kind=T.Kind.PIPELINE,
        experiment=experiment,
        target=store.target,
        cfg=cfg,
        config_path=config_path,
        run_name=pipeline_run_name(cfg, config_path, overrides, experiment),
        tags=tags,
        parent_run_id=parent_run_id,
    ) as parent:
        ctx = Context(
            cfg, config_path, overrides, store, parent, experiment, options, on_event or _quiet
        )
        ctx.emit("start", {"run_id": parent.run_id, "experiment": experiment})
        full: list[StageOutcome] = []
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


def _seed_summary(full: list[StageOutcome]) -> dict[str, Any] | None:
    """final_nrmse over seeds and test trajectories, with a bootstrap interval."""
    from unisim.evaluation.statistics import summarize_seeds

    rows = [o.per_trajectory for o in full]
    if not rows or any(len(r) != len(rows[0]) or not r for r in rows):
        return None
    summary = summarize_seeds(rows).to_dict()
    summary["seeds"] = [o.seed for o in full]
    return summary


def _per_trajectory_csv(full: list[StageOutcome]) -> str:
    """One row per test trajectory, one column per seed (in seed order): the rollout nRMSE."""
    by_seed = sorted(full, key=lambda o: o.seed or 0)  # ``full`` puts the chosen seed first
    head = ",".join(["trajectory", *(f"seed_{o.seed}" for o in by_seed)])
    rows = zip(*(o.per_trajectory for o in by_seed), strict=True)
    return "\n".join([head, *(",".join([str(i), *map(repr, r)]) for i, r in enumerate(rows))])


def _record(
    ctx: Context,
    full: list[StageOutcome],
    failed: StageFailed | None,
    wall: float,
    tags: dict[str, str],
) -> PipelineResult:
    """Write on the parent run what the lifecycle reads: headline, gates, status, summary.

    The headline ``final_nrmse`` is the mean over seeds (and trajectories); its spread and
    95% interval go beside it (``final_nrmse_std``, ``final_nrmse_low``/``_high``), the
    per-seed values as the ``seed/final_nrmse`` curve (step = seed).
    """
    parent = ctx.parent
    failed_stage = failed.stage if failed else None
    reason = f"stage {failed.stage}: {failed.reason}" if failed else None
    evals = [o for o in ctx.outcomes if o.gates_passed is not None]
    gates = [
        dict(row, stage=o.name.removeprefix("eval-"), seed=o.seed) for o in evals for row in o.gates
    ]
    gates_passed = not failed_stage and bool(evals) and all(o.gates_passed for o in evals)
    status = T.Status.SUCCESS if gates_passed else T.Status.FAILED
    seeds = _seed_summary(full)
    headline: dict[str, float] = {T.WALL_CLOCK_S: wall}
    for key in T.HEADLINE_METRICS:
        values = [o.metrics[key] for o in full if key in o.metrics]
        if values and len(values) == len(full):
            headline[key] = sum(values) / len(values)
    if seeds is not None:
        headline[T.FINAL_NRMSE] = seeds["mean"]
        headline[T.FINAL_NRMSE_STD] = seeds["std"]
        headline[T.FINAL_NRMSE_LOW] = seeds["low"]
        headline[T.FINAL_NRMSE_HIGH] = seeds["high"]
        headline[T.WORST_DECILE_NRMSE] = seeds["worst_decile"]
        headline[T.N_SEEDS] = len(full)
        for o in full:
            parent.metrics.log(
                {T.SEED_FINAL_NRMSE: o.metrics[T.FINAL_NRMSE]}, step=int(o.seed or 0)
            )
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
    if full and full[0].report is not None:
        report = dict(full[0].report)
        if seeds is not None:
            report["seeds"] = seeds
        parent.log_dict(report, "report.json")
    if seeds is not None:
        parent.log_text(_per_trajectory_csv(full), "per_trajectory.csv")
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
        final_nrmse=headline.get(T.FINAL_NRMSE),
        stages=ctx.outcomes,
        gates=gates,
        failed_stage=failed_stage,
        failure_reason=reason,
        links=links,
        seeds=seeds,
    )
    parent.log_dict(result.summary(), "summary.json")
    # The parent is the page to read: headline, gates, children, model, and the plots.
    seed = ctx.chosen.seed if ctx.chosen is not None else None
    fast = [o for o in ctx.outcomes if o.name == "eval-fast" and o.seed == seed and o.run_id]
    attach_plots(ctx, full[0] if full else (fast[0] if fast else None))
    parent.set_tags({T.MLFLOW_NOTE_TAG: describe(ctx, result, headline)})
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
    text += "".join(f"; warning: {w}" for w in promotion.warnings)
    emit("promote", {"result": text})
