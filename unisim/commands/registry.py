"""``unisim registry list|show|rollback``: the champion history in the MLflow Model Registry.

    unisim registry list
    unisim registry show burgers-surrogate        # versions, aliases, history
    unisim registry show burgers-surrogate 3      # one version: tags, source, description
    unisim registry rollback                      # champion -> previous-champion
    unisim registry rollback burgers-surrogate --to 2

Each command calls one function of ``unisim.registry`` and prints it.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.markup import escape

from unisim.commands.common import ProfileOpt, TrackingUriOpt, console, err_console, target
from unisim.display import num

app = typer.Typer(help="Registered models, champions and rollback.", no_args_is_help=True)

NameArg = Annotated[str, typer.Argument(metavar="NAME", help="Registered model name.")]


@app.command("list")
def list_(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    tracking_uri: TrackingUriOpt = None,
    profile: ProfileOpt = None,
) -> int:
    """Registered models with their champion."""
    from rich.table import Table

    from unisim.registry.models import list_models

    rows = list_models(target(tracking_uri, profile, read_only=True))
    if as_json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        console.print("no registered models")
        return 0
    table = Table()
    for col in ("model", "latest", "champion", "previous", "final_nrmse", "link"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            r["name"],
            r["latest_version"] or "",
            r["champion"] or "",
            r["previous_champion"] or "",
            num(r["champion_final_nrmse"], empty=""),
            r["url"],
        )
    console.print(table)
    return 0


@app.command()
def show(
    name: NameArg,
    version: Annotated[str | None, typer.Argument(help="One version.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    tracking_uri: TrackingUriOpt = None,
    profile: ProfileOpt = None,
) -> int:
    """A registered model's versions, aliases and champion history (or one version)."""
    from rich.table import Table

    from unisim.registry.models import show_model

    info = show_model(target(tracking_uri, profile, read_only=True), name, version)
    if as_json:
        print(json.dumps(info, indent=2, default=str))
        return 0
    aliases = ", ".join(f"{a}=v{v}" for a, v in sorted(info["aliases"].items())) or "none"
    console.print(f"[bold]{escape(name)}[/bold]  aliases: {escape(aliases)}")
    console.print(f"champion history: {' -> '.join(info['history']) or 'none'}")
    if version is not None:
        v = info["version"]
        for key in ("version", "aliases", "stage", "run_id", "train_run", "experiment"):
            console.print(f"{key}: {escape(str(v[key]))}")
        for key in ("final_nrmse", "one_step_nrmse"):
            console.print(f"{key}: {num(v[key])}")
        for key in ("data_hash", "config_hash", "promoted_at"):
            console.print(f"{key}: {escape(str(v[key]))}")
        console.print(f"source: {escape(str(v['source']))}")
        console.print(f"description: {escape(v['description'] or '')}")
    else:
        table = Table()
        for col in ("version", "aliases", "stage", "final_nrmse", "data", "experiment", "run"):
            table.add_column(col)
        for v in info["versions"]:
            table.add_row(
                v["version"],
                ",".join(v["aliases"]),
                v["stage"] or "",
                num(v["final_nrmse"], empty=""),
                v["data_hash"] or "",
                v["experiment"] or "",
                (v["run_id"] or "")[:8],
            )
        console.print(table)
    console.print(f"registry: {info['url']}")
    return 0


@app.command()
def rollback(
    name: Annotated[str, typer.Argument(metavar="NAME", help="Registered model name.")] = (
        "burgers-surrogate"
    ),
    to: Annotated[
        str | None, typer.Option("--to", help="Make this version champion instead.")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show, change nothing.")] = False,
    tracking_uri: TrackingUriOpt = None,
    profile: ProfileOpt = None,
) -> int:
    """Move the champion alias back to previous-champion (or to --to VERSION)."""
    from unisim.registry.rollback import rollback as do_rollback

    result = do_rollback(
        target(tracking_uri, profile, read_only=dry_run), name, to, dry_run=dry_run
    )
    verb = "would" if dry_run else "done:"
    for step in result.steps:
        console.print(f"  {verb} {escape(step)}")
    for note in result.notes:
        err_console.print(f"note: {escape(note)}")
    if not dry_run:
        console.print(
            f"{name}: champion is version {result.to_version} (was {result.from_version})"
        )
    console.print(f"registry: {result.url}")
    return 0
