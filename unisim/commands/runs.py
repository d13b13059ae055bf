"""``unisim runs list|show|compare|open``: MLflow runs in the terminal, and their UI links.

    unisim runs list 2026-11-29-64dim-latent --kind pipeline
    unisim runs list --filter "metrics.final_nrmse < 0.1" --json
    unisim runs show 3f2c9a...                 # params, metrics, tags, artifacts, UI URL
    unisim runs compare 3f2c9a... 81be07...    # params that differ, metrics side by side
    unisim runs open 3f2c9a...                 # the run's page in the MLflow UI
    unisim runs end --stale --dry-run          # RUNNING runs whose process is gone

Each command calls one function of ``unisim.reports.runs`` (``end``: of
``unisim.tracking.stale``) and prints its result.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from unisim.commands.common import ProfileOpt, TrackingUriOpt, err_console, target
from unisim.commands.experiments import print_table, say

app = typer.Typer(help="Browse MLflow runs: list, show, compare, open in the UI.")

RunArg = Annotated[str, typer.Argument(help="Run id.", metavar="RUN")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")]


def _num(value: float | None) -> str:
    from unisim.display import num

    return num(value)


@app.command("list")
def list_(
    experiment: Annotated[
        str | None, typer.Argument(help="Experiment name, id or folder (default: all).")
    ] = None,
    filter_: Annotated[
        str | None,
        typer.Option("--filter", help='MLflow search filter, e.g. "metrics.final_nrmse < 0.1".'),
    ] = None,
    kind: Annotated[
        str | None, typer.Option("--kind", help="Only runs of this kind: pipeline, train, ...")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=50000, help="At most N runs.")] = 50,
    as_json: JsonOpt = False,
    tracking_uri: TrackingUriOpt = None,
    profile: ProfileOpt = None,
) -> int:
    """Newest runs first: kind, state, unisim status, gates, final_nrmse."""
    from unisim.reports.runs import list_runs

    tgt = target(tracking_uri, profile, read_only=True)
    rows = list_runs(tgt, experiment, filter_string=filter_, kind=kind, limit=limit)
    if as_json:
        typer.echo(json.dumps([r.to_dict() for r in rows], indent=2))
        return 0
    if not rows:
        say("no runs")
        return 0
    columns = ("run id", "experiment", "name", "kind", "state", "status", "gates")
    table = Table(*columns, "final nRMSE", "started (UTC)", "duration")
    for r in rows:
        kind_ = f"{r.kind}/{r.stage}" if r.stage else (r.kind or "-")
        dur = f"{r.duration_s:.0f}s" if r.duration_s is not None else "-"
        started = (r.started or "-").replace("T", " ")[:16]
        names = (r.run_id, escape(r.experiment), escape(r.name), kind_, r.state)
        table.add_row(
            *names, r.status or "-", r.gates_passed or "-", _num(r.final_nrmse), started, dur
        )
    print_table(table)
    if tgt.is_local and not as_json:
        from unisim.tracking.links import tracking_env_line

        err_console.print(
            f"(plain mlflow commands on this store: {tracking_env_line(tgt)})", soft_wrap=True
        )
    return 0


@app.command()
def show(
    run_id: RunArg,
    as_json: JsonOpt = False,
    tracking_uri: TrackingUriOpt = None,
    profile: ProfileOpt = None,
) -> int:
    """Params, metrics, tags and artifacts of one run, and its MLflow UI URL."""
    from unisim.reports.runs import show_run

    d = show_run(target(tracking_uri, profile, read_only=True), run_id)
    if as_json:
        typer.echo(json.dumps(d.to_dict(), indent=2))
        return 0
    where = f"in {escape(d.experiment)} (experiment {d.experiment_id})"
    say(f"[bold]run {d.run_id}[/bold] {escape(d.name)} {where}")
    say(f"state {d.state}, started {d.started or '-'}, ended {d.ended or '-'}")
    if d.children:
        kids = Table(
            "run id", "name", "kind", "state", "status", "final nRMSE",
            title=f"child runs ({len(d.children)})", title_justify="left",
        )  # fmt: skip
        for c in d.children:
            kind_ = f"{c.kind}/{c.stage}" if c.stage else (c.kind or "-")
            kids.add_row(
                c.run_id, escape(c.name), kind_, c.state, c.status or "-", _num(c.final_nrmse)
            )
        print_table(kids)
    tags = {k: v for k, v in d.tags.items() if k != "mlflow.note.content"}
    for title, data in (("metrics", d.metrics), ("params", d.params), ("tags", tags)):
        extra = (
            f"; {d.omitted_params} vast.* omitted" if title == "params" and d.omitted_params else ""
        )
        table = Table("key", "value", title=f"{title} ({len(data)}{extra})", title_justify="left")
        for key, value in data.items():
            table.add_row(escape(key), _num(value) if title == "metrics" else escape(str(value)))
        print_table(table)
    if d.description:
        say("[bold]description[/bold]")
        for line in d.description.splitlines():
            say(f"  {escape(line)}")
    say(f"artifacts ({len(d.artifacts)}): " + (", ".join(d.artifacts) or "-"))
    say(f"UI: {d.url}")
    return 0


@app.command()
def compare(
    run_ids: Annotated[list[str], typer.Argument(help="Two or more run ids.", metavar="RUN")],
    as_json: JsonOpt = False,
    tracking_uri: TrackingUriOpt = None,
    profile: ProfileOpt = None,
) -> int:
    """Params that differ and metrics side by side (the MLflow UI's compare view)."""
    from unisim.reports.runs import compare_runs

    c = compare_runs(target(tracking_uri, profile, read_only=True), run_ids)
    for warning in c.warnings:
        err_console.print(f"warning: {escape(warning)}")
    if as_json:
        typer.echo(json.dumps(c.to_dict(), indent=2))
        return 0
    heads = [f"{escape(n)}\n{r[:8]}" for n, r in zip(c.names, c.run_ids, strict=True)]
    title = f"params that differ ({len(c.params)}; {c.same_params} equal)"
    params = Table("param", *heads, title=title, title_justify="left")
    for key, values in c.params.items():
        params.add_row(escape(key), *("-" if v is None else escape(v) for v in values))
    print_table(params)
    metrics = Table("metric", *heads, title="metrics (* best)", title_justify="left")
    for key, values in c.metrics.items():
        cells = [_num(v) + (" *" if c.best.get(key) == i else "") for i, v in enumerate(values)]
        metrics.add_row(escape(key), *cells)
    print_table(metrics)
    say(f"UI compare view: {c.url}")
    return 0


@app.command("open")
def open_(
    run_id: RunArg,
    tracking_uri: TrackingUriOpt = None,
    profile: ProfileOpt = None,
) -> int:
    """Print the run's MLflow UI URL (start the UI with `unisim ui` for a local store)."""
    from unisim.reports.runs import run_link
    from unisim.tracking import ui_command

    tgt = target(tracking_uri, profile, read_only=True)
    typer.echo(run_link(tgt, run_id))
    if tgt.is_local:
        err_console.print(f"(local store: start the UI with `{ui_command(tgt)}`)", soft_wrap=True)
    return 0


@app.command("end")
def end(
    experiment: Annotated[
        str | None, typer.Argument(help="Experiment name, id or folder (default: all).")
    ] = None,
    stale: Annotated[
        bool,
        typer.Option("--stale", help="End RUNNING runs whose process is gone (this host)."),
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say which runs would end; change nothing.")
    ] = False,
    tracking_uri: TrackingUriOpt = None,
    profile: ProfileOpt = None,
) -> int:
    """End runs left RUNNING by a process that died (kill -9, a crash): KILLED, with a reason.

    A run is stale when it was opened on this host and its process is gone (or its pid
    now belongs to another process). Runs of other hosts are listed, never touched.
    """
    from unisim.errors import UnisimError
    from unisim.tracking.stale import end_stale

    if not stale:
        raise UnisimError("runs end: say which runs: --stale (runs whose process is gone)")
    found = end_stale(target(tracking_uri, profile, read_only=dry_run), experiment, dry_run=dry_run)
    if not found:
        say("no RUNNING runs")
        return 0
    for run in found:
        if run.ended:
            verb = "ended KILLED"
        elif run.state == "gone":
            verb = "would end  "
        else:
            verb = "left       "
        say(f"{verb} {run.run_id} {run.kind or '-'}: {escape(run.why)}")
    return 0
