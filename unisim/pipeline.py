"""Fast-to-SOTA orchestrator: data -> train -> fast eval -> gates -> full eval -> gates -> board.

    result = run_pipeline("configs/train_burgers_golden.yaml", ["training.epochs=2"])
    result.exit_code  # 0 ok, 1 gate failed under strict_exit, 3 a stage crashed

One parent MLflow run (``unisim.kind=pipeline``) holds nested child runs for
each stage. The parent carries what the lifecycle reads: ``final_nrmse``,
``unisim.gates_passed``, ``unisim.status`` (success|failed), ``summary.json``,
``report.json`` and each stage's wall time (``stage/<name>_s``). Training and
evaluation already done for the same config hash and data hash are reused
unless forced. With ``isolate`` each stage runs as a subprocess, so a crash
marks that stage's run FAILED and the pipeline names the stage.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from unisim import tracking
from unisim.config import (
    Config,
    config_hash,
    content_hash,
    experiment_name,
    load_config,
    to_dict,
)
from unisim.errors import UnisimError
from unisim.tracking import TrackingTarget

log = logging.getLogger(__name__)

EXIT_OK, EXIT_GATES, EXIT_BAD_INPUT, EXIT_STAGE_FAILED = 0, 1, 2, 3

Event = Callable[[str, dict[str, Any]], None]


@dataclass
class StageResult:
    name: str
    status: str  # ok | reused | failed | skipped
    seconds: float = 0.0
    run_id: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    detail: str = ""


@dataclass
class PipelineResult:
    run_id: str
    experiment_id: str
    experiment: str
    status: str  # success | failed
    gates_passed: bool
    exit_code: int
    final_nrmse: float | None
    stages: list[StageResult]
    gates: list[dict[str, Any]]
    failed_stage: str | None = None
    links: dict[str, str] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return asdict(self)


class StageFailed(Exception):
    """A stage crashed; the pipeline run ends with status failed and names it."""

    def __init__(self, stage: str, reason: str) -> None:
        super().__init__(f"stage {stage} failed: {reason}")
        self.stage = stage
        self.reason = reason


def _quiet(_: str, __: dict[str, Any]) -> None:
    pass


def _eval_key(cfg: Config, train_run_id: str, data_hash: str, stage: str) -> str:
    """Identity of an evaluation: model, data, stage, and the evaluation/gate settings."""
    data = to_dict(cfg)
    return content_hash([train_run_id, data_hash, stage, data["evaluation"], data["gates"]])


# ---------------------------------------------------------------- reuse lookups


def find_finished_training(client, experiment_id: str, cfg_hash: str, data_hash: str):
    """The newest finished train run with this config and data (or None)."""
    runs = client.search_runs(
        [experiment_id],
        filter_string=(
            f"tags.`{tracking.TAG_KIND}` = 'train' and attributes.status = 'FINISHED' "
            f"and tags.`{tracking.TAG_CONFIG_HASH}` = '{cfg_hash}' "
            f"and tags.`{tracking.TAG_DATA_HASH}` = '{data_hash}'"
        ),
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    return runs[0] if runs else None


def find_finished_evaluation(client, experiment_id: str, key: str):
    runs = client.search_runs(
        [experiment_id],
        filter_string=(
            f"tags.`{tracking.TAG_KIND}` = 'evaluate' and attributes.status = 'FINISHED' "
            f"and tags.`{tracking.TAG_EVAL_KEY}` = '{key}'"
        ),
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    return runs[0] if runs else None


# ---------------------------------------------------------------- stages (in process or isolated)


def _run_isolated(stage: str, args: list[str], target: TrackingTarget) -> dict[str, Any]:
    """Run ``unisim ARGS --result-json F`` as a subprocess; return the JSON it wrote."""
    with tempfile.TemporaryDirectory(prefix="unisim-stage-") as tmp:
        out = Path(tmp) / "result.json"
        cmd = [sys.executable, "-m", "unisim", *args, "--result-json", str(out)]
        cmd += ["--tracking-uri", target.uri]
        env = dict(os.environ)
        env["MLFLOW_TRACKING_URI"] = target.uri
        proc = subprocess.run(cmd, env=env, stderr=subprocess.PIPE, text=True)
        if proc.returncode != 0 or not out.is_file():
            lines = [ln for ln in (proc.stderr or "").strip().splitlines() if ln.strip()]
            reason = lines[-1] if lines else f"exit code {proc.returncode}"
            raise StageFailed(stage, f"subprocess exited {proc.returncode}: {reason}")
        return json.loads(out.read_text())


def _close_orphans(client, parent_run_id: str, experiment_id: str, stage: str) -> None:
    """A killed stage subprocess leaves its run RUNNING: mark it FAILED."""
    runs = client.search_runs(
        [experiment_id],
        filter_string=(
            f"tags.`{tracking.MLFLOW_PARENT_TAG}` = '{parent_run_id}' "
            "and attributes.status = 'RUNNING'"
        ),
    )
    for run in runs:
        client.set_tag(run.info.run_id, tracking.TAG_STATUS, tracking.STATUS_FAILED)
        client.set_tag(run.info.run_id, tracking.TAG_FAILURE_REASON, f"stage {stage} crashed")
        client.set_terminated(run.info.run_id, "FAILED")


def _train(
    cfg: Config,
    config_path: str | None,
    overrides: list[str],
    target: TrackingTarget,
    parent_run_id: str,
    isolate: bool,
) -> dict[str, Any]:
    if isolate:
        args = ["train", str(config_path), "--parent-run-id", parent_run_id]
        for item in overrides:
            args += ["--set", item]
        return _run_isolated("train", args, target)
    from unisim.training import train_model

    return train_model(cfg, config_path, target=target, parent_run_id=parent_run_id).to_dict()


def _evaluate(
    train_run_id: str,
    cfg: Config,
    config_path: str | None,
    overrides: list[str],
    split: str,
    stage: str,
    target: TrackingTarget,
    parent_run_id: str,
    isolate: bool,
    eval_key: str,
) -> dict[str, Any]:
    if isolate:
        args = ["evaluate", train_run_id, "--split", split, "--parent-run-id", parent_run_id]
        args += ["--eval-key", eval_key]
        if stage == "full":  # as in process: persistence/FNO ratios on the full stage
            args.append("--baselines")
        if config_path:
            args += ["--config", str(config_path)]
        for item in overrides:
            args += ["--set", item]
        return _run_isolated(f"eval-{stage}", args, target)
    from unisim.evaluation import run_evaluation

    return run_evaluation(
        train_run_id,
        cfg=cfg,
        config_path=config_path,
        split=split,
        stage=stage,
        target=target,
        parent_run_id=parent_run_id,
        baseline_models=stage == "full",
        extra_tags={tracking.TAG_EVAL_KEY: eval_key},
    ).to_dict()  # the same dict `unisim evaluate --result-json` writes for --isolate


def _reused_eval(client, run) -> dict[str, Any]:
    report_path = client.download_artifacts(run.info.run_id, "report.json")
    report = json.loads(Path(report_path).read_text())
    return {
        "run_id": run.info.run_id,
        "metrics": dict(run.data.metrics),
        "gates_passed": run.data.tags.get(tracking.TAG_GATES_PASSED) == "true",
        "gates": report.get("gates", []),
        "report": report,
    }


# ---------------------------------------------------------------- the pipeline


def run_pipeline(
    config_path: str | Path,
    overrides: list[str] | None = None,
    *,
    target: TrackingTarget | None = None,
    force_train: bool = False,
    force_full_eval: bool = False,
    redo_eval: bool = False,
    strict_exit: bool = False,
    auto_promote: bool = False,
    isolate: bool = False,
    tags: dict[str, str] | None = None,
    on_event: Event | None = None,
) -> PipelineResult:
    """Run every stage under one parent run; see the module docstring for the exit codes."""
    overrides = list(overrides or [])
    emit = on_event or _quiet
    config_path = str(config_path)
    cfg = load_config(config_path, overrides)  # bad input fails here, before any run
    target = target or tracking.resolve_tracking()
    experiment = experiment_name(config_path, cfg)
    stages: list[StageResult] = []
    gates: list[dict[str, Any]] = []
    gates_passed = True
    failed_stage: str | None = None
    final_nrmse: float | None = None
    full_report: dict[str, Any] | None = None
    started = time.perf_counter()

    with tracking.start_run(
        kind="pipeline",
        experiment=experiment,
        target=target,
        cfg=cfg,
        config_path=config_path,
        run_name=cfg.tracking.run_name or cfg.name,
        tags=tags,
    ) as parent:
        client = parent.client
        emit("start", {"run_id": parent.run_id, "experiment": experiment})

        def stage(name: str, fn: Callable[[], StageResult]) -> StageResult:
            emit("stage_start", {"stage": name})
            t0 = time.perf_counter()
            try:
                result = fn()
            except StageFailed:
                _close_orphans(client, parent.run_id, parent.experiment_id, name)
                raise
            except (UnisimError, KeyboardInterrupt):
                raise
            except Exception as exc:
                raise StageFailed(name, tracking.describe_error(exc)) from exc
            result.seconds = time.perf_counter() - t0
            parent.metrics.log({f"stage/{name}_s": result.seconds})
            stages.append(result)
            emit("stage_end", asdict(result))
            return result

        try:
            # -- data
            def data_stage() -> StageResult:
                from unisim.data import load_data

                with tracking.start_run(
                    kind="data",
                    experiment=experiment,
                    target=target,
                    config_path=config_path,
                    parent_run_id=parent.run_id,
                    run_name="data",
                ) as child:
                    splits = load_data(
                        cfg.data,
                        progress=lambda done, total: emit(
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
                parent.set_tags({tracking.TAG_DATA_HASH: splits.data_hash})
                return StageResult("data", "ok", run_id=child.run_id, detail=str(splits.path))

            data = stage("data", data_stage)
            dhash = client.get_run(data.run_id).data.tags[tracking.TAG_DATA_HASH]

            # -- train (reused when the same config and data already trained)
            def train_stage() -> StageResult:
                if not force_train:
                    done = find_finished_training(
                        client, parent.experiment_id, config_hash(cfg), dhash
                    )
                    if done is not None:
                        return StageResult(
                            "train",
                            "reused",
                            run_id=done.info.run_id,
                            metrics={"best_val_nrmse": done.data.metrics.get("best_val_nrmse")},
                            detail="same config hash and data hash",
                        )
                out = _train(cfg, config_path, overrides, target, parent.run_id, isolate)
                return StageResult(
                    "train",
                    "ok",
                    run_id=out["run_id"],
                    metrics={"best_val_nrmse": out.get("best_val_nrmse")},
                )

            train = stage("train", train_stage)
            parent.set_tags({tracking.TAG_TRAIN_RUN: train.run_id})

            # -- evaluations and their gates
            def eval_stage(split: str, name: str) -> Callable[[], StageResult]:
                def run() -> StageResult:
                    key = _eval_key(cfg, train.run_id, dhash, name)
                    done = (
                        None
                        if redo_eval
                        else find_finished_evaluation(client, parent.experiment_id, key)
                    )
                    if done is not None:
                        out, status = _reused_eval(client, done), "reused"
                    else:
                        out = _evaluate(
                            train.run_id,
                            cfg,
                            config_path,
                            overrides,
                            split,
                            name,
                            target,
                            parent.run_id,
                            isolate,
                            key,
                        )
                        status = "ok"
                    outputs[name] = out
                    passed = "gates passed" if out["gates_passed"] else "gates FAILED"
                    return StageResult(
                        f"eval-{name}",
                        status,
                        run_id=out["run_id"],
                        metrics=dict(out["metrics"]),
                        detail=passed,
                    )

                return run

            outputs: dict[str, dict[str, Any]] = {}
            stage("eval-fast", eval_stage("val", "fast"))
            fast_out = outputs["fast"]
            gates = [dict(row, stage="fast") for row in fast_out["gates"]]
            gates_passed = bool(fast_out["gates_passed"])
            emit("gates", {"stage": "fast", "passed": gates_passed, "rows": fast_out["gates"]})

            if gates_passed or force_full_eval:
                stage("eval-full", eval_stage("test", "full"))
                full_out = outputs["full"]
                gates += [dict(row, stage="full") for row in full_out["gates"]]
                gates_passed = gates_passed and bool(full_out["gates_passed"])
                final_nrmse = full_out["metrics"].get("final_nrmse")
                full_report = full_out["report"]
                emit(
                    "gates",
                    {
                        "stage": "full",
                        "passed": full_out["gates_passed"],
                        "rows": full_out["gates"],
                    },
                )
            else:
                stages.append(StageResult("eval-full", "skipped", detail="fast gates failed"))
                emit("stage_end", asdict(stages[-1]))
        except StageFailed as exc:
            failed_stage, gates_passed = exc.stage, False
            stages.append(StageResult(exc.stage, "failed", detail=exc.reason))
            emit("stage_end", asdict(stages[-1]))

        # -- record on the parent what the lifecycle reads
        wall = time.perf_counter() - started
        status = tracking.STATUS_SUCCESS if gates_passed and not failed_stage else "failed"
        headline: dict[str, float] = {"wall_clock_s": wall}
        if final_nrmse is not None:
            headline["final_nrmse"] = final_nrmse
            full_metrics = full_report.get("metrics", {}) if full_report else {}
            for key in ("one_step_nrmse", "conservation_gap", "energy_violation"):
                if key in full_metrics:
                    headline[key] = full_metrics[key]
        dph = (tags or {}).get("unisim.dph")
        if dph:
            try:
                headline["cost_usd"] = float(dph) * wall / 3600.0
            except ValueError:
                log.warning("unisim.dph=%r is not a number: no cost_usd", dph)
        parent.metrics.log(headline)
        parent.metrics.flush()
        parent.set_tags(
            {
                tracking.TAG_GATES_PASSED: "true" if gates_passed else "false",
                tracking.TAG_STATUS: status,
                **({tracking.TAG_FAILURE_REASON: f"stage {failed_stage}"} if failed_stage else {}),
            }
        )
        if full_report is not None:
            parent.log_dict(full_report, "report.json")
        links = {
            "runs": tracking.experiment_url(target, parent.experiment_id),
            "pipeline": tracking.run_url(target, parent.experiment_id, parent.run_id),
            "ui": tracking.ui_command(target),
        }
        result = PipelineResult(
            run_id=parent.run_id,
            experiment_id=parent.experiment_id,
            experiment=experiment,
            status=status,
            gates_passed=gates_passed,
            exit_code=EXIT_OK,
            final_nrmse=final_nrmse,
            stages=stages,
            gates=gates,
            failed_stage=failed_stage,
            links=links,
        )
        parent.log_dict(result.summary(), "summary.json")

    # -- after the parent run is closed: leaderboard and promotion read it as finished
    if failed_stage is None:
        _after(result, target, auto_promote, emit)
    if failed_stage:
        result.exit_code = EXIT_STAGE_FAILED
    elif strict_exit and not gates_passed:
        result.exit_code = EXIT_GATES
    return result


def _after(result: PipelineResult, target: TrackingTarget, auto_promote: bool, emit: Event) -> None:
    try:
        from unisim.lifecycle.leaderboard import write_leaderboard
    except ImportError:  # promotion/leaderboard not installed in this build
        write_leaderboard = None
    if write_leaderboard is not None:
        paths = write_leaderboard(target)
        emit("leaderboard", {"paths": [str(p) for p in paths or []]})
    if auto_promote:
        if not result.gates_passed:
            emit("promote", {"skipped": "gates failed"})
            return
        from unisim.lifecycle.promote import promote_run

        promotion = promote_run(result.run_id, target=target, auto=True)
        if promotion.promoted:
            text = f"{promotion.model_name} v{promotion.version} is champion ({promotion.url})"
        else:
            text = f"not promoted: {promotion.reason}"
        emit("promote", {"result": text})
