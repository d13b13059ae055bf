"""The pipeline run as the page to read: its MLflow description and its plots.

    text = describe(ctx, result, headline)      # Markdown for the run's description
    attach_plots(ctx, outcome)                  # the chosen seed's evaluation plots

The MLflow UI shows a run's description (``mlflow.note.content``, Markdown) at the top
of its page. The pipeline writes there: the headline ``final_nrmse`` with its 95%
interval, the gate verdict and table, the config (and the ``--set`` overrides, since a
file's ``description`` prose does not follow them), a link to every child run, and the
model; ``unisim promote`` later adds the registered version. The rollout plots of the
evaluation the headline comes from are copied onto the pipeline run (``plots/``), so the
parent shows the curve, not only the child that made it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from unisim import tracking as T
from unisim.config import config_hash
from unisim.display import interval, num

if TYPE_CHECKING:
    from unisim.pipeline.outcome import PipelineResult, StageOutcome
    from unisim.pipeline.stages import Context

log = logging.getLogger(__name__)

PLOTS = ("plots/nrmse_vs_step.png", "plots/spacetime_0.png")
_STAGE_RESULT = {
    "train": (T.VAL_BEST_NRMSE,),
    "eval-fast": (T.FINAL_NRMSE,),
    "eval-full": (T.FINAL_NRMSE, T.ONE_STEP_NRMSE),
}


def _link(ctx: Context, run_id: str | None) -> str:
    """A link relative to the UI page it is shown on: right whatever host and port serve it."""
    if not run_id:
        return "-"
    url = T.run_url(ctx.target, ctx.parent.experiment_id, run_id)
    return f"[{run_id[:8]}]({url[url.index('#') :]})"


def _headline(result: PipelineResult, headline: dict[str, float]) -> list[str]:
    verdict = "passed" if result.gates_passed else "FAILED"
    if result.failed_stage:
        verdict = f"FAILED (stage {result.failed_stage} crashed)"
    if result.final_nrmse is None:
        return [f"**no final_nrmse** (no full evaluation) · gates **{verdict}**"]
    text = f"**final_nrmse {num(result.final_nrmse)}**"
    seeds = result.seeds or {}
    if seeds.get("low") is not None:
        text += (
            f" {interval(seeds['low'], seeds['high'])} (95% interval over "
            f"{seeds.get('n_seeds', 1)} seed{'s' if seeds.get('n_seeds', 1) != 1 else ''} x "
            f"{seeds.get('n_trajectories', '?')} test trajectories)"
        )
    lines = [f"{text} · gates **{verdict}**"]
    rest = [
        f"{k} {num(headline[k])}"
        for k in (T.ONE_STEP_NRMSE, T.WORST_DECILE_NRMSE, T.CONSERVATION_GAP, T.WALL_CLOCK_S)
        if k in headline
    ]
    if rest:
        lines.append(" · ".join(rest))
    return lines


def _stage_rows(ctx: Context, outcomes: list[StageOutcome]) -> list[str]:
    rows = ["| stage | run | status | seconds | result |", "|---|---|---|---|---|"]
    for o in outcomes:
        label = o.name + (f" (seed {o.seed})" if o.seed is not None and len(ctx.seeds) > 1 else "")
        result = ", ".join(
            f"{k} {num(o.metrics[k])}" for k in _STAGE_RESULT.get(o.name, ()) if k in o.metrics
        )
        if o.gates_passed is not None:
            verdict = "gates passed" if o.gates_passed else "gates FAILED"
            result += ("; " if result else "") + verdict
        if o.status == "failed" and o.detail:
            result = o.detail
        rows.append(
            f"| {label} | {_link(ctx, o.run_id)} | {o.status} | {num(o.seconds)} | {result} |"
        )
    return rows


def _gate_rows(gates: list[dict[str, Any]], seeded: bool) -> list[str]:
    if not gates:
        return []
    rows = ["| stage | metric | check | value | limit | passed |", "|---|---|---|---|---|---|"]
    for g in gates:
        seed = f" seed {g['seed']}" if seeded and g.get("seed") is not None else ""
        passed = "yes" if g.get("passed") else "**no**"
        if g.get("provisional"):
            passed += " (provisional)"
        rows.append(
            f"| {g.get('stage', '')}{seed} | {g.get('metric', '')} | {g.get('check', '')} | "
            f"{num(g.get('value'))} | {num(g.get('limit'))} | {passed} |"
        )
    return ["", "**Gates**", "", *rows]


def describe(ctx: Context, result: PipelineResult, headline: dict[str, float]) -> str:
    """The pipeline run's description (Markdown)."""
    cfg = ctx.cfg
    lines = _headline(result, headline)
    lines += ["", f"Config `{ctx.config_path}` (config hash `{config_hash(cfg)}`)"]
    if ctx.overrides:
        lines[-1] += ", overrides " + ", ".join(f"`{o}`" for o in ctx.overrides)
    if cfg.description:
        note = " (the file's text: `--set` overrides do not change it)" if ctx.overrides else ""
        lines.append(f"Description{note}: {cfg.description}")
    lines += ["", *_stage_rows(ctx, result.stages)]
    lines += _gate_rows(result.gates, len(ctx.seeds) > 1)
    train = ctx.chosen.run_id if ctx.chosen is not None else None
    if train:
        seed = ctx.chosen.seed if ctx.chosen is not None else None
        which = f" (seed {seed}, chosen on validation)" if len(ctx.seeds) > 1 else ""
        lines += [
            "",
            f"Model: `runs:/{train}/model` of train run {_link(ctx, train)}{which}; "
            f"not registered yet (`unisim promote --run-id {result.run_id}`).",
        ]
    return "\n".join(lines)


def attach_plots(ctx: Context, source: StageOutcome | None) -> list[str]:
    """Copy the plots of ``source`` (an evaluate stage) onto the pipeline run."""
    if source is None or not source.run_id:
        return []
    copied = []
    for path in PLOTS:
        try:
            if ctx.store.copy_artifact(source.run_id, path, ctx.parent.run_id, "plots"):
                copied.append(path)
        except Exception as exc:  # a plot is a convenience: never fail the pipeline on it
            log.warning("could not copy %s of run %s: %s", path, source.run_id, exc)
    return copied
