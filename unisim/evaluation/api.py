"""``run_evaluation``: evaluate a model on a split, gate it, log an evaluate run, return the result.

    from unisim.evaluation import run_evaluation
    result = run_evaluation("3f2a...")                               # a training run id
    result = run_evaluation("models:/burgers-surrogate@champion", split="val")
    result = run_evaluation("ckpt/last.pt", cfg=cfg, parent_run_id=pipeline_run_id)
    result.metrics["final_nrmse"], result.gates_passed, result.report

Order of work: resolve the model and its config, load the data, evaluate the
model, persistence, the champion (cached) and optionally the FNO baseline,
compute the gate table -- all before any run is opened, so bad input writes
nothing. Then one ``kind=evaluate`` run gets the metrics (and the nRMSE per
rollout step as a metric history), report.json, the gate table and the plots;
the evaluated training run gets ``final_nrmse``/``one_step_nrmse`` (test split;
``val/...`` for the val split), the ``unisim.gates_passed`` tag (at the full
stage, or whenever gates fail) and, at the full stage, report.json.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from unisim import tracking as T
from unisim.evaluation.baselines import fno_baseline, persistence_baseline
from unisim.evaluation.champion import Baseline, champion_baseline
from unisim.evaluation.engine import evaluate_loaded
from unisim.evaluation.gates import GateRow, all_passed, evaluate_gates
from unisim.evaluation.inputs import SPLITS, STAGES, Inputs, check_gate_metrics, prepare
from unisim.evaluation.record import (
    build_eval_report,
    gate_tags,
    log_plots,
    record_on_training_run,
)
from unisim.evaluation.report import gate_table_text

if TYPE_CHECKING:
    from unisim.config import Config
    from unisim.evaluation.engine import Scores
    from unisim.tracking import Store, TrackingTarget

log = logging.getLogger(__name__)

__all__ = ["SPLITS", "STAGES", "EvalResult", "check_gate_metrics", "run_evaluation"]


@dataclass
class EvalResult:
    """What an evaluation produced; ``report`` is the content of report.json."""

    run_id: str  # the evaluate run
    experiment_id: str
    evaluated_run_id: str | None  # the training run, when known
    split: str
    stage: str
    metrics: dict[str, float]
    gates: list[GateRow]
    gates_passed: bool
    report: dict[str, Any]
    rollout_curve: list[float] = field(default_factory=list)
    url: str = ""
    per_trajectory: list[float] = field(default_factory=list)  # rollout nRMSE per trajectory

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready form (what ``unisim evaluate --result-json`` writes)."""
        from unisim.evaluation.report import clean

        return clean(
            {
                "run_id": self.run_id,
                "experiment_id": self.experiment_id,
                "evaluated_run_id": self.evaluated_run_id,
                "split": self.split,
                "stage": self.stage,
                "metrics": self.metrics,
                "gates_passed": self.gates_passed,
                "gates": [row.to_dict() for row in self.gates],
                "report": self.report,
                "url": self.url,
                "per_trajectory": self.per_trajectory,
            }
        )


@dataclass
class Scored:
    """The model's scores, the baselines' and the gate table."""

    scores: Scores
    metrics: dict[str, float]
    baselines: dict[str, Baseline]
    gates: list[GateRow]
    passed: bool


def _score(store: Store, x: Inputs, baseline_models: bool, fno_source: str | None) -> Scored:
    """Evaluate the model, persistence, the champion (cached) and optionally the FNO."""
    log.info("evaluating %s on %s/%s: %s", x.source, x.split, x.stage, x.traj.shape)
    bs = x.cfg.evaluation.batch_size
    scores = evaluate_loaded(x.loaded, x.traj, cond=x.cond, batch_size=bs, device=x.device)
    metrics = dict(scores.metrics)
    loaded = x.loaded
    baselines: dict[str, Baseline] = {
        "persistence": persistence_baseline(x.traj, context=x.context),
        "champion": champion_baseline(
            store,
            x.cfg,
            evaluated_run_id=loaded.run_id or loaded.origin_run_id,
            evaluated_version=(
                (loaded.registered_name, loaded.version) if loaded.version else None
            ),
            traj=x.traj,
            cond=x.cond,
            selection=x.selection,
            data_hash=x.data_hash,
            device=x.device,
            need_per_trajectory=any(g.paired for g in x.cfg.gates.metrics),
        ),
    }
    if baseline_models:
        baselines["fno"] = fno_baseline(
            store,
            loaded,
            fno_source=fno_source,
            experiment_id=loaded.experiment_id,
            data_hash=x.data_hash,
            traj=x.traj,
            cond=x.cond,
            batch_size=bs,
            device=x.device,
        )
    for name, base in baselines.items():
        theirs = (base.metrics or {}).get(T.FINAL_NRMSE)
        if theirs is not None and np.isfinite(theirs) and theirs > 0:
            metrics[f"ratio_to_{name}"] = metrics[T.FINAL_NRMSE] / theirs
    champ = baselines["champion"]
    rows = evaluate_gates(
        metrics,
        x.cfg.gates,
        x.stage,
        baseline=champ.metrics,
        baseline_label=champ.label,
        no_baseline_reason=champ.reason,
        baseline_error=champ.error,
        per_trajectory=scores.per_trajectory,
        baseline_per_trajectory=champ.per_trajectory,
        invariants=_invariants(x.cfg),
    )
    return Scored(scores, metrics, baselines, rows, all_passed(rows))


def _invariants(cfg: Config) -> frozenset[str]:
    """The physics laws of the config's PDE (``unisim.pdes``), as gate names know them."""
    data = cfg.data
    return frozenset(str(i.value) for i in data.pde.invariants(data.equation))


def run_evaluation(
    source: str,
    *,
    cfg: Config | None = None,
    config_path: str | Path | None = None,
    overrides: list[str] | None = None,
    split: str = "test",
    stage: str | None = None,
    target: TrackingTarget | None = None,
    parent_run_id: str | None = None,
    baseline_models: bool = False,
    fno_source: str | None = None,
    plots: bool = True,
    extra_tags: dict[str, str] | None = None,
    splits: Any = None,
    condition_on: str = "true",
) -> EvalResult:
    """Evaluate ``source`` (run id, ``models:/...`` URI or checkpoint) on ``split``.

    ``stage`` defaults to ``fast`` for val and ``full`` for test; the fast stage
    keeps every ``evaluation.fast_stride``-th trajectory (at most
    ``evaluation.fast_max_samples``). ``cfg`` (or ``config_path``) overrides the
    config the model was trained with: its data, evaluation and gates sections
    are used; ``overrides`` (``key=value``) apply on top. ``baseline_models``
    adds the FNO baseline (``fno_source``, or the newest FNO run on the same
    data); persistence and the champion are always evaluated. ``extra_tags`` go
    onto the evaluate run; ``splits`` replaces ``load_data(cfg.data)`` (tests).
    ``split="heldout"`` evaluates on the held-out file (generated on first use) and logs
    ``heldout/...`` metrics too. ``condition_on="nearest-train"`` tells the model the
    training coefficients nearest to each trajectory's instead of the true ones (a
    diagnostic of how conditioning generalises; never written onto the training run).
    """
    from unisim.config import experiment_name

    store = T.connect(target)
    x = prepare(
        store,
        source,
        cfg=cfg,
        config_path=config_path,
        overrides=overrides,
        split=split,
        stage=stage,
        splits=splits,
        condition_on=condition_on,
    )
    from unisim.training.threads import apply_threads, resolve_threads

    apply_threads(resolve_threads(x.cfg.training.threads))
    s = _score(store, x, baseline_models, fno_source)
    if x.loaded.experiment_id is not None:
        experiment = store.experiment_name(x.loaded.experiment_id)
    else:
        experiment = experiment_name(config_path, x.cfg)
    tags = {
        T.TAG_EVALUATED_RUN: x.loaded.run_id,
        T.TAG_MODEL_NAME: x.loaded.registered_name,
        T.TAG_MODEL_VERSION: x.loaded.version,
        T.TAG_MODEL_SOURCE: source,
        T.TAG_SPLIT: x.split,
        T.TAG_CONDITION_ON: x.condition_on if x.condition_on != "true" else None,
        **(extra_tags or {}),
    }
    with T.start_run(
        kind=T.Kind.EVALUATE,
        experiment=experiment,
        target=store.target,
        cfg=x.cfg,
        config_path=config_path,
        stage=x.stage,
        parent_run_id=parent_run_id,
        run_name=f"evaluate-{x.split}",
        tags={k: v for k, v in tags.items() if v is not None},
    ) as run:
        if getattr(x.splits, "path", None):
            name = Path(str(x.splits.path)).stem  # the same dataset name training logs
            run.log_dataset(
                name=name, source=str(x.splits.path), digest=x.data_hash, context=x.split
            )
        run.set_tags({T.TAG_DATA_HASH: x.data_hash, T.TAG_GATES_PASSED: str(s.passed).lower()})
        if x.split != "test" or x.condition_on != "true":  # other trajectories or inputs
            from unisim.config.protocol import protocol

            tag, summary = protocol(x.cfg, x.split, x.condition_on)
            run.set_tags({T.TAG_PROTOCOL: tag, T.TAG_PROTOCOL_SUMMARY: summary})
        run.set_tags(gate_tags(s.gates))
        run.metrics.log(s.metrics)
        if x.split == "heldout":  # named apart, so a held-out figure is never a headline
            run.metrics.log({f"heldout/{k}": v for k, v in s.metrics.items()})
        curves = zip(s.scores.rollout_curve, s.scores.one_step_curve, strict=True)
        for step, (r, o) in enumerate(curves, 1):  # step 1 = first predicted frame
            run.metrics.log({T.ROLLOUT_CURVE: float(r), T.ONE_STEP_CURVE: float(o)}, step=step)
        report = build_eval_report(x, s, run.run_id)
        if x.loaded.run_id is not None and x.condition_on == "true":
            why_not = record_on_training_run(
                store,
                x.loaded.run_id,
                metrics=s.metrics,
                passed=s.passed,
                split=x.split,
                stage=x.stage,
                report=report,
                data_hash=x.data_hash,
            )
            if why_not:
                report["notes"] = [why_not]
        run.log_dict(report, "report.json")
        run.log_dict({"gates_passed": s.passed, "gates": report["gates"]}, "gates.json")
        run.log_text(gate_table_text(s.gates), "gates.txt")
        if plots:
            curves = {"model": report["error_curve"]["rollout_nrmse"]}
            curves.update(
                {b.label: b.rollout_curve for b in s.baselines.values() if b.rollout_curve}
            )
            log_plots(run, x.cfg, x.splits, x.traj, s.scores.rollout, x.context, curves, x.split)
        url = run.ui_url()

    return EvalResult(
        run_id=run.run_id,
        experiment_id=run.experiment_id,
        evaluated_run_id=x.loaded.run_id,
        split=x.split,
        stage=x.stage,
        metrics=s.metrics,
        gates=s.gates,
        gates_passed=s.passed,
        report=report,
        rollout_curve=report["error_curve"]["rollout_nrmse"],
        url=url,
        per_trajectory=report["per_trajectory"][T.FINAL_NRMSE],
    )
