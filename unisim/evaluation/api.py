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
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from unisim import tracking as T
from unisim.errors import ConfigError, UnisimError
from unisim.evaluation.baselines import fno_baseline, persistence_baseline
from unisim.evaluation.champion import Baseline, Selection, champion_baseline
from unisim.evaluation.engine import KNOWN_METRICS, data_physics, evaluate_loaded
from unisim.evaluation.gates import GateRow, all_passed, evaluate_gates
from unisim.evaluation.report import build_report, gate_table_text
from unisim.evaluation.rollout import pick_device
from unisim.evaluation.sources import LoadedModel, load_source, model_grid

if TYPE_CHECKING:
    from unisim.config import Config
    from unisim.data import BurgersSplits
    from unisim.evaluation.engine import Scores
    from unisim.tracking import Store, TrackedRun, TrackingTarget

log = logging.getLogger(__name__)

SPLITS = ("val", "test")
STAGES = ("fast", "full")


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
            }
        )


def check_gate_metrics(cfg: Config) -> None:
    """Every metric a gate names must be one evaluation produces (typos fail at once).

    ``load_config`` checks this already; a stored config (``build_stored_config``) may
    name a metric evaluation no longer produces, and is caught here.
    """
    for i, gate in enumerate(cfg.gates.metrics):
        if gate.metric not in KNOWN_METRICS:
            known = ", ".join(KNOWN_METRICS)
            raise ConfigError(
                f"gates.metrics.{i}.metric: unknown metric {gate.metric!r} (known: {known})"
            )


def select_trajectories(splits: Any, split: str, stage: str, cfg: Config) -> np.ndarray:
    """(N, nt, X) of the split; the fast stage keeps every k-th, at most ``fast_max_samples``."""
    traj = np.asarray(splits.val if split == "val" else splits.test)
    if stage == "fast":
        traj = traj[:: cfg.evaluation.fast_stride][: cfg.evaluation.fast_max_samples]
    if traj.ndim != 3 or traj.shape[0] == 0:
        raise UnisimError(f"split {split!r}: no trajectories to evaluate (shape {traj.shape})")
    return traj


def _resolve_cfg(
    loaded: LoadedModel,
    cfg: Config | None,
    config_path: str | Path | None,
    overrides: list[str] | None,
) -> Config:
    """The evaluation config: ``cfg`` > ``config_path`` > the model's own; then overrides."""
    from unisim.config import build_config, load_config, to_dict

    if cfg is None and config_path is not None:
        return load_config(config_path, overrides)
    cfg = cfg or loaded.cfg
    if cfg is None:
        raise UnisimError(f"{loaded.source}: the model has no config; pass --config")
    if overrides:
        cfg = build_config(to_dict(cfg), overrides, source=f"{loaded.source} config")
    return cfg


def gate_tags(rows: list[GateRow]) -> dict[str, str]:
    """One tag per gate row, ``unisim.gate.<metric>.<check>`` = pass | fail | provisional."""
    out = {}
    for row in rows:
        state = "provisional" if row.provisional else ("pass" if row.passed else "fail")
        out[T.gate_tag(row.metric, row.check)] = state
    return out


def _axis(values: Any, n: int) -> np.ndarray:
    arr = np.asarray(values if values is not None else [], dtype=float).reshape(-1)
    return arr if arr.shape == (n,) else np.arange(n, dtype=float)


def _log_plots(
    run: TrackedRun, cfg: Config, splits: Any, traj: np.ndarray, rollout: np.ndarray,
    context: int, curves: dict[str, list[float]], label: str,
) -> None:  # fmt: skip
    from unisim.evaluation.plots import make_plots

    with tempfile.TemporaryDirectory(prefix="unisim-plots-") as tmp:
        paths = make_plots(
            tmp,
            traj,
            rollout,
            _axis(getattr(splits, "x", None), traj.shape[2]),
            _axis(getattr(splits, "t", None), traj.shape[1]),
            context=context,
            curves={k: np.asarray(v, dtype=float) for k, v in curves.items()},
            n_trajectories=cfg.evaluation.plot_trajectories,
            n_snapshots=cfg.evaluation.plot_snapshots,
            label=label,
        )
        for path in paths:
            run.log_artifact(path, "plots")


def _record_on_training_run(
    store: Store,
    run_id: str,
    *,
    metrics: dict[str, float],
    passed: bool,
    split: str,
    stage: str,
    report: dict[str, Any],
    data_hash: str,
) -> str | None:
    """Write the headline numbers onto the evaluated training run; returns why not, if not."""
    trained_on = store.get_run(run_id).data.tags.get(T.TAG_DATA_HASH)
    if trained_on and trained_on != data_hash:
        return f"not written to training run {run_id}: it was trained on data {trained_on}"
    headline = (T.FINAL_NRMSE, T.ONE_STEP_NRMSE)
    store.log_metrics(
        run_id, {T.split_metric(split, k): metrics[k] for k in headline if k in metrics}
    )
    # A fast-stage pass says little about the model; a failure at any stage is final.
    if stage == T.Stage.FULL or not passed:
        store.set_tags(run_id, {T.TAG_GATES_PASSED: "true" if passed else "false"})
    if stage == T.Stage.FULL:
        store.log_dict(run_id, report, "report.json")
    return None


@dataclass
class _Inputs:
    """Everything an evaluation decides before any run is opened (bad input fails here)."""

    source: str
    loaded: LoadedModel
    cfg: Config
    splits: BurgersSplits
    traj: np.ndarray  # (N, nt, X) the selected trajectories
    split: str
    stage: str
    selection: Selection
    data_hash: str
    device: Any
    nu: float | None
    context: int


def _prepare(
    store: Store,
    source: str,
    *,
    cfg: Config | None,
    config_path: str | Path | None,
    overrides: list[str] | None,
    split: str,
    stage: str | None,
    splits: Any,
) -> _Inputs:
    from unisim.data import load_data

    if split not in SPLITS:
        raise UnisimError(f"--split {split!r}: must be one of {', '.join(SPLITS)}")
    stage = stage or ("fast" if split == "val" else "full")
    if stage not in STAGES:
        raise UnisimError(f"stage {stage!r}: must be one of {', '.join(STAGES)}")
    loaded = load_source(source, store)
    cfg = _resolve_cfg(loaded, cfg, config_path, overrides)
    check_gate_metrics(cfg)
    splits = splits if splits is not None else load_data(cfg.data)
    _, context = model_grid(loaded)
    selection = Selection(split, stage, *(
        (cfg.evaluation.fast_stride, cfg.evaluation.fast_max_samples)
        if stage == "fast" else (1, None)
    ))  # fmt: skip
    return _Inputs(
        source=source,
        loaded=loaded,
        cfg=cfg,
        splits=splits,
        traj=select_trajectories(splits, split, stage, cfg),
        split=split,
        stage=stage,
        selection=selection,
        data_hash=str(splits.data_hash),
        device=pick_device(cfg.evaluation.device),
        nu=float(splits.nu) if getattr(splits, "nu", None) is not None else None,
        context=context,
    )


@dataclass
class _Scored:
    """The model's scores, the baselines' and the gate table."""

    scores: Scores
    metrics: dict[str, float]
    baselines: dict[str, Baseline]
    gates: list[GateRow]
    passed: bool


def _score(store: Store, x: _Inputs, baseline_models: bool, fno_source: str | None) -> _Scored:
    """Evaluate the model, persistence, the champion (cached) and optionally the FNO."""
    log.info("evaluating %s on %s/%s: %s", x.source, x.split, x.stage, x.traj.shape)
    bs = x.cfg.evaluation.batch_size
    scores = evaluate_loaded(x.loaded, x.traj, nu=x.nu, batch_size=bs, device=x.device)
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
            nu=x.nu,
            selection=x.selection,
            data_hash=x.data_hash,
            device=x.device,
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
            nu=x.nu,
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
    )
    return _Scored(scores, metrics, baselines, rows, all_passed(rows))


def _report(x: _Inputs, s: _Scored, run_id: str) -> dict[str, Any]:
    return build_report(
        metrics=s.metrics,
        gates=s.gates,
        stage=x.stage,
        split=x.split,
        model_source=x.loaded.describe(),
        data={
            "hash": x.data_hash,
            "path": str(getattr(x.splits, "path", "") or ""),
            "split": x.split,
            "n_samples": int(x.traj.shape[0]),
            "nt": int(x.traj.shape[1]),
            "nx": int(x.traj.shape[2]),
            "context": x.context,
            "nu": x.nu,
            "selection": x.selection.key,
            "physics_of_truth": data_physics(x.traj, x.context),
        },
        baselines={k: v.to_report() for k, v in s.baselines.items()},
        error_curve=[float(v) for v in s.scores.rollout_curve],
        one_step_curve=[float(v) for v in s.scores.one_step_curve],
        evaluate_run_id=run_id,
        evaluated_run_id=x.loaded.run_id,
        notes=[],
    )


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
    """
    from unisim.config import experiment_name

    store = T.connect(target)
    x = _prepare(
        store,
        source,
        cfg=cfg,
        config_path=config_path,
        overrides=overrides,
        split=split,
        stage=stage,
        splits=splits,
    )
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
        run.set_tags(gate_tags(s.gates))
        run.metrics.log(s.metrics)
        curves = zip(s.scores.rollout_curve, s.scores.one_step_curve, strict=True)
        for step, (r, o) in enumerate(curves, 1):  # step 1 = first predicted frame
            run.metrics.log({T.ROLLOUT_CURVE: float(r), T.ONE_STEP_CURVE: float(o)}, step=step)
        report = _report(x, s, run.run_id)
        if x.loaded.run_id is not None:
            why_not = _record_on_training_run(
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
            _log_plots(run, x.cfg, x.splits, x.traj, s.scores.rollout, x.context, curves, x.split)
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
    )
