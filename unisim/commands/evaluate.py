"""``unisim evaluate SOURCE``: evaluate a run's model, a registry version or a checkpoint.

    unisim evaluate 3f2a9c...                              # a training run id
    unisim evaluate models:/burgers-surrogate@champion --split val
    unisim evaluate ckpt/best.pt --config configs/train_burgers_golden.yaml
    unisim evaluate RUN_ID --baselines --strict-exit      # exit 1 when a gate fails
    unisim evaluate RUN_ID --split heldout --condition-on nearest-train

Prints the headline metrics and the gate table; exit 0 even when gates fail
unless ``--strict-exit``. Bad input (no such run, no model, a model on another
grid, an unknown alias) is one line on stderr and exit 2.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from unisim.commands.common import (
    ProfileOpt,
    ResultJsonOpt,
    SetOpt,
    TrackingUriOpt,
    console,
    err_console,
    parent_run_option,
    target,
)

HEADLINE = (
    "final_nrmse",
    "one_step_nrmse",
    "rmse",
    "crmse",
    "max_error",
    "conservation_gap",
    "energy_violation",
    "nonfinite",
    "ratio_to_persistence",
    "ratio_to_champion",
    "ratio_to_fno",
)


def _fmt(value: Any) -> str:
    from unisim.display import num

    return num(value)


def print_evaluation(result: Any, out: Any = None) -> None:
    """Metrics table, gate table and the run link of an ``EvalResult`` (rich)."""
    from rich.table import Table

    out = out or console
    metrics = Table(title=f"evaluation: {result.split} split, {result.stage} stage")
    metrics.add_column("metric")
    metrics.add_column("value", justify="right")
    for key in HEADLINE:
        if key in result.metrics:
            metrics.add_row(key, _fmt(result.metrics[key]))
    out.print(metrics)

    gates = Table(title="gates")
    for col in ("metric", "check", "value", "limit", "baseline", "passed"):
        right = col in ("value", "limit", "baseline")
        gates.add_column(col, justify="right" if right else "left", no_wrap=True)
    gates.add_column("reason", overflow="fold")
    for row in result.gates:
        mark = "[green]✓[/green]" if row.passed else "[red]✗[/red]"
        gates.add_row(
            row.metric,
            row.check,
            _fmt(row.value),
            _fmt(row.limit),
            _fmt(row.baseline),
            mark,
            row.reason,
        )
    if result.gates:
        out.print(gates)
    verdict = "[green]gates passed[/green]" if result.gates_passed else "[red]gates FAILED[/red]"
    out.print(f"{verdict}  evaluate run {result.run_id}")
    if result.url:
        out.print(f"  {result.url}")


def evaluate(
    source: Annotated[
        str,
        typer.Argument(
            help="A training run id, models:/NAME@ALIAS or models:/NAME/VERSION, or a checkpoint.",
            metavar="SOURCE",
        ),
    ],
    config: Annotated[
        str | None,
        typer.Option("--config", "-c", help="Config whose data, evaluation and gates to use."),
    ] = None,
    split: Annotated[
        str,
        typer.Option(
            "--split",
            help="val (fast stage), test or heldout (full stage; heldout: the fixed held-out "
            "set, generated on first use, never used for any choice).",
        ),
    ] = "test",
    condition_on: Annotated[
        str,
        typer.Option(
            "--condition-on",
            help="Tell the model each trajectory's true coefficients (true) or the nearest "
            "ones it was trained on (nearest-train: a check of how conditioning generalises).",
        ),
    ] = "true",
    set_: SetOpt = None,
    baselines: Annotated[
        bool, typer.Option("--baselines", help="Also evaluate the FNO baseline.")
    ] = False,
    fno: Annotated[
        str | None, typer.Option("--fno", help="FNO baseline source (implies --baselines).")
    ] = None,
    plots: Annotated[bool, typer.Option("--plots/--no-plots", help="Log PNG plots.")] = True,
    parent_run_id: parent_run_option("evaluate") = None,
    eval_key: Annotated[
        str | None, typer.Option("--eval-key", help="Tag unisim.eval_key (used by unisim run).")
    ] = None,
    result_json: ResultJsonOpt = None,
    strict_exit: Annotated[
        bool, typer.Option("--strict-exit", help="Exit 1 when a gate fails.")
    ] = False,
    tracking_uri: TrackingUriOpt = None,
    profile: ProfileOpt = None,
) -> int:
    """Evaluate a model on the val or test split, gate it and log an evaluate run."""
    from unisim.errors import UnisimError
    from unisim.evaluation import run_evaluation
    from unisim.tracking import TAG_EVAL_KEY

    if split not in ("val", "test", "heldout"):
        raise UnisimError(f"--split {split!r}: must be val, test or heldout")
    result = run_evaluation(
        source,
        config_path=config,
        overrides=set_,
        split=split,
        target=target(tracking_uri, profile),
        parent_run_id=parent_run_id,
        baseline_models=baselines or fno is not None,
        fno_source=fno,
        plots=plots,
        extra_tags={TAG_EVAL_KEY: eval_key} if eval_key else None,
        condition_on=condition_on,
    )
    if result_json:  # the pipeline's stage outcome (`unisim run --isolate` reads it)
        from unisim.pipeline.outcome import StageOutcome

        stage = "eval-fast" if result.stage == "fast" else "eval-full"
        StageOutcome.from_eval(stage, result).write(result_json)
    print_evaluation(result)
    if strict_exit and not result.gates_passed:
        err_console.print("gates failed (--strict-exit)")
        return 1
    return 0
