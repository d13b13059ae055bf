"""``unisim run CONFIG``: the fast-to-SOTA pipeline, with live progress and a summary."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from unisim.commands.common import (
    ConfigArg,
    ProfileOpt,
    SetOpt,
    TrackingUriOpt,
    console,
    err_console,
    target,
)


def _seeds(text: str | None) -> list[int]:
    from unisim.errors import UnisimError

    if not text:
        return []
    try:
        seeds = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise UnisimError(f"--seeds {text!r}: expected integers, e.g. --seeds 0,1,2") from None
    if len(set(seeds)) != len(seeds) or not seeds:
        raise UnisimError(f"--seeds {text!r}: give distinct integers, e.g. --seeds 0,1,2")
    return seeds


def _tags(items: list[str] | None) -> dict[str, str]:
    from unisim.errors import UnisimError

    tags = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UnisimError(f"--tag {item!r}: expected KEY=VALUE")
        tags[key] = value
    return tags


class _Printer:
    """Turns pipeline events into terminal lines and a progress bar for long stages."""

    def __init__(self) -> None:
        self.bar: Any = None
        self.task: Any = None

    def __call__(self, event: str, data: dict[str, Any]) -> None:
        if event == "progress":
            self._progress(data)
            return
        if self.bar is not None:
            self.bar.stop()
            self.bar = None
        _print_event(event, data)

    def _progress(self, data: dict[str, Any]) -> None:
        from rich.progress import BarColumn, Progress, TimeRemainingColumn

        if self.bar is None:
            self.bar = Progress(
                f"  {data['stage']}",
                BarColumn(),
                "{task.percentage:>3.0f}%",
                TimeRemainingColumn(),
                console=console,
                transient=True,
            )
            self.bar.start()
            self.task = self.bar.add_task(data["stage"], total=data["total"])
        self.bar.update(self.task, completed=data["done"], total=data["total"])


def _print_event(event: str, data: dict[str, Any]) -> None:
    from unisim.display import num

    if event == "start":
        console.print(f"[bold]pipeline[/bold] {data['experiment']}  run {data['run_id']}")
    elif event == "stage_start":
        console.print(f"▶ {data['stage']} …")
    elif event == "stage_end":
        mark = {"ok": "✓", "reused": "↺", "skipped": "–", "failed": "✗"}.get(data["status"], "?")
        metrics = ", ".join(
            f"{k}={num(v)}"
            for k, v in data["metrics"].items()
            if k in ("final_nrmse", "one_step_nrmse", "fit/best_val_nrmse") and v is not None
        )
        extra = f"  {metrics}" if metrics else ""
        seed = f" seed {data['seed']}" if data.get("seed") is not None else ""
        detail = f"  ({data['detail']}{';' if data['detail'] and seed else ''}{seed})"
        detail = detail if data["detail"] or seed else ""
        console.print(
            f"{mark} {data['name']} {data['status']} {data['seconds']:.1f}s{extra}{detail}"
        )
    elif event == "leaderboard":
        console.print(f"leaderboard updated {' '.join(data['paths'])}".rstrip())
    elif event == "promote":
        console.print(f"promotion: {data.get('result') or data.get('skipped')}")


def print_gate_table(rows: list[dict[str, Any]], title: str = "Gates") -> None:
    """The gate table; every column whole at 80 terminal columns (narrower than 110, the
    reasons follow the table, one line each, instead of a squeezed last column)."""
    from rich.table import Table

    from unisim.display import num

    seeded = len({row.get("seed") for row in rows}) > 1
    with_baseline = any(row.get("baseline") is not None for row in rows)
    heads = {"stage": "stage", "metric": "metric", "check": "check", "value": "value"}
    heads.update({"limit": "limit", **({"baseline": "champ"} if with_baseline else {})})
    inline_reason = console.width >= 110
    table = Table(title=title, box=None, title_justify="left", pad_edge=False, header_style="bold")
    for head in heads.values():  # metric and check together name a row: never cut them
        table.add_column(head, no_wrap=True)
    table.add_column("pass", no_wrap=True)
    if inline_reason:
        table.add_column("reason", ratio=1)

    def fmt(v: Any) -> str:
        return num(v) if isinstance(v, float) else ("" if v is None else str(v))

    def stage(row: dict[str, Any]) -> str:
        return f"{row.get('stage', '')} s{row['seed']}" if seeded else str(row.get("stage", ""))

    for row in rows:
        passed = "[green]yes[/green]" if row.get("passed") else "[red]no[/red]"
        cells = [stage(row), *(fmt(row.get(c)) for c in list(heads)[1:]), passed]
        table.add_row(*cells, *([fmt(row.get("reason"))] if inline_reason else []))
    console.print(table)
    if not inline_reason:
        for row in rows:  # what needs a word: failures and provisional passes
            if row.get("reason") and (not row.get("passed") or row.get("provisional")):
                name = f"{stage(row)} {row.get('metric', '')} {row.get('check', '')}"
                console.print(f"  {name}: {row['reason']}", soft_wrap=True, highlight=False)


def run(
    config: ConfigArg,
    set_: SetOpt = None,
    tag: Annotated[
        list[str] | None, typer.Option("--tag", help="Extra run tag KEY=VALUE (repeatable).")
    ] = None,
    strict_exit: Annotated[
        bool, typer.Option("--strict-exit", help="Exit 1 if any gate failed.")
    ] = False,
    force_train: Annotated[
        bool, typer.Option("--force-train", help="Train even if this config already trained.")
    ] = False,
    force_full_eval: Annotated[
        bool,
        typer.Option("--force-full-eval", help="Run the full evaluation after failed fast gates."),
    ] = False,
    redo_eval: Annotated[
        bool, typer.Option("--redo-eval", help="Evaluate again instead of reusing results.")
    ] = False,
    auto_promote: Annotated[
        bool, typer.Option("--auto-promote", help="Promote the run when every gate passed.")
    ] = False,
    isolate: Annotated[
        bool, typer.Option("--isolate", help="Run each stage as a subprocess.")
    ] = False,
    seeds: Annotated[
        str | None,
        typer.Option(
            "--seeds",
            metavar="S1,S2,...",
            help="Train one model per seed; report the mean with a 95% interval.",
        ),
    ] = None,
    tracking_uri: TrackingUriOpt = None,
    profile: ProfileOpt = None,
) -> int:
    """Run the fast-to-SOTA pipeline: data, train, fast eval, gates, full eval, gates, board.

    Exit codes: 0 done; 1 a gate failed (with --strict-exit); 2 bad input; 3 a stage crashed;
    130 interrupted (every open run ends KILLED).
    """
    from unisim.pipeline import run_pipeline

    result = run_pipeline(
        config,
        set_,
        target=target(tracking_uri, profile),
        force_train=force_train,
        force_full_eval=force_full_eval,
        redo_eval=redo_eval,
        strict_exit=strict_exit,
        auto_promote=auto_promote,
        isolate=isolate,
        tags=_tags(tag),
        on_event=_Printer(),
        seeds=_seeds(seeds),
    )
    if result.gates:
        print_gate_table(result.gates)
    verdict = "[green]success[/green]" if result.status == "success" else "[red]failed[/red]"
    from unisim.display import interval, num

    nrmse = f"  final_nrmse={num(result.final_nrmse)}" if result.final_nrmse is not None else ""
    if result.seeds is not None:
        s = result.seeds
        nrmse += f" {interval(s['low'], s['high'])} ({s['n_seeds']} seed"
        nrmse += f"{'s' if s['n_seeds'] > 1 else ''} x {s['n_trajectories']} trajectories)"
    console.print(f"pipeline {verdict}{nrmse}  run {result.run_id}")
    if result.failed_stage:
        detail = next((s.detail for s in result.stages if s.status == "failed"), "")
        err_console.print(
            f"error: stage {result.failed_stage} failed: {detail}", markup=False, soft_wrap=True
        )
    console.print(f"runs: {result.links['runs']}")
    console.print(f"this run: {result.links['pipeline']}  (start the UI: {result.links['ui']})")
    return result.exit_code
