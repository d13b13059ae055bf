"""``unisim experiments new|list|archive|restore|migrate``: experiment folders and their lifecycle.

    unisim experiments new 64dim-latent --from configs/train_burgers_golden.yaml
    unisim experiments list --status failed --json
    unisim experiments archive --status all --dry-run      # or --list-only
    unisim experiments restore 2026-01-02-64dim-latent
    unisim experiments migrate --dry-run

Each command calls one function of ``unisim.experiments`` and prints its result.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from unisim.commands.common import ProfileOpt, TrackingUriOpt, console, target

app = typer.Typer(help="Experiment folders: create, list by status, archive, restore, migrate.")

STATUS_STYLE = {
    "active": "cyan",
    "idle": "yellow",
    "success": "green",
    "failed": "red",
    "stale": "dim",
    "promoted": "bold green",
    "archived": "dim",
}
AsOfOpt = Annotated[
    str | None,
    typer.Option("--as-of", help="Judge activity as of this date (YYYY-MM-DD[THH:MM]), UTC."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def _as_of(value: str | None) -> datetime | None:
    from unisim.errors import UnisimError

    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise UnisimError(f"--as-of {value!r}: expected YYYY-MM-DD or YYYY-MM-DDTHH:MM") from None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def say(text: str) -> None:
    """One line of output, never wrapped (paths and URLs stay whole for copy and grep)."""
    console.print(text, soft_wrap=True)


def print_table(table: Table) -> None:
    """Print a table; piped output gets 200 columns so run ids and names are never cut."""
    if console.is_terminal:
        console.print(table)
    else:
        Console(width=200, highlight=False).print(table)


def _ago(when: datetime | None) -> str:
    if when is None:
        return "-"
    days = (datetime.now(timezone.utc) - when).total_seconds() / 86_400
    age = f"{days * 24:.0f}h ago" if days < 1 else f"{days:.0f}d ago"
    return f"{when:%Y-%m-%d} ({age})"


@app.command()
def new(
    name: Annotated[str, typer.Argument(help="Short name; the folder is YYYY-MM-DD-NAME.")],
    from_config: Annotated[
        str | None, typer.Option("--from", help="Start from this config (validated, copied).")
    ] = None,
    tracking_uri: TrackingUriOpt = None,
    profile: ProfileOpt = None,
) -> int:
    """Create experiments/YYYY-MM-DD-NAME/ (config.yaml, notes.md) and its MLflow experiment."""
    from unisim.experiments.folders import new_experiment

    made = new_experiment(name, from_config=from_config, target=target(tracking_uri, profile))
    folder = f"{made.path.parent.name}/{made.name}"
    say(f"created {folder}/ (config.yaml, notes.md)")
    say(f"MLflow experiment {made.name} (id {made.experiment_id}): {made.url}")
    say(f"next: edit its notes.md and config.yaml, then `unisim run {folder}/config.yaml`")
    return 0


@app.command("list")
def list_(
    status: Annotated[
        str | None, typer.Option("--status", help="Only this status (active, success, ...).")
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="Include archived experiments.")] = False,
    as_json: JsonOpt = False,
    as_of: AsOfOpt = None,
    tracking_uri: TrackingUriOpt = None,
    profile: ProfileOpt = None,
) -> int:
    """Experiments with their status (from MLflow runs), runs, best final_nrmse, activity."""
    from unisim.errors import UnisimError
    from unisim.experiments.status import STATUSES, list_experiments

    if status is not None and status not in STATUSES:
        raise UnisimError(f"--status {status!r}: choose one of {', '.join(STATUSES)}")
    rows = list_experiments(target(tracking_uri, profile, read_only=True), now=_as_of(as_of))
    if status is not None:
        rows = [r for r in rows if r.status == status]
    elif not all_:
        rows = [r for r in rows if r.status != "archived"]
    if as_json:
        typer.echo(json.dumps([r.to_dict() for r in rows], indent=2))
        return 0
    if not rows:
        say("no experiments" + (f" with status {status}" if status else ""))
        return 0
    table = Table("experiment", "status", "runs", "best nRMSE", "last activity", "promoted")
    for r in rows:
        style = STATUS_STYLE.get(r.status, "")
        best = f"{r.best_nrmse:.4g}" if r.best_nrmse is not None else "-"
        promoted = f"v{r.model_version}" if r.model_version else "-"
        status_cell = f"[{style}]{r.status}[/{style}]"
        table.add_row(
            escape(r.name), status_cell, str(r.runs), best, _ago(r.last_activity), promoted
        )
    print_table(table)
    return 0


@app.command()
def archive(
    names: Annotated[
        list[str] | None,
        typer.Argument(help="Archive these experiments (default: by --status).", metavar="NAME"),
    ] = None,
    status: Annotated[
        str | None,
        typer.Option(help="all (= success+failed+stale), success, failed, stale, idle, promoted."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print every action; write nothing.")
    ] = False,
    list_only: Annotated[
        bool, typer.Option("--list-only", help="Summary by status: counts, then names.")
    ] = False,
    as_of: AsOfOpt = None,
    tracking_uri: TrackingUriOpt = None,
    profile: ProfileOpt = None,
) -> int:
    """Move experiments to experiments-archive/ (crash-safe) and tag their runs archived."""
    tgt = target(tracking_uri, profile, read_only=list_only or dry_run)
    if list_only:
        from unisim.experiments.status import group_by_status, list_experiments

        groups = group_by_status(list_experiments(tgt, now=_as_of(as_of)))
        for key, members in groups.items():
            say(f"{key:>9}: {len(members)}")
        for key, members in groups.items():
            if members:
                say(f"\n[bold]{key}[/bold]")
                for name in members:
                    say(f"  {escape(name)}")
        return 0
    from unisim.experiments.archive import archive as do_archive

    default = None if names else "all"
    report = do_archive(
        tgt, status=status or default, names=names, dry_run=dry_run, now=_as_of(as_of)
    )
    for line in report.actions:
        say(escape(line))
    if dry_run:
        say(f"would archive {len(report.planned)}, skip {len(report.skipped)}")
    else:
        say(f"archived {len(report.done)}, skipped {len(report.skipped)}")
    return 0


@app.command()
def restore(
    name: Annotated[str, typer.Argument(help="Folder name in experiments-archive/.")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print every action; write nothing.")
    ] = False,
    tracking_uri: TrackingUriOpt = None,
    profile: ProfileOpt = None,
) -> int:
    """Bring an archived experiment back to experiments/ and restore its run tags."""
    from unisim.experiments.archive import restore as do_restore

    report = do_restore(name, target(tracking_uri, profile, read_only=dry_run), dry_run=dry_run)
    for line in report.actions:
        say(escape(line))
    if report.done:
        say(f"restored experiments/{escape(name)}")
    return 0


@app.command()
def migrate(
    pattern: Annotated[
        list[str] | None,
        typer.Option(
            "--pattern",
            help="Glob on config file names (repeatable); default: experimental, test, _vN.",
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print every action; write nothing.")
    ] = False,
) -> int:
    """Move experimental configs from configs/ into dated experiment folders."""
    from unisim.experiments.migrate import migrate_configs

    report = migrate_configs(patterns=pattern, dry_run=dry_run)
    for line in report.actions:
        say(escape(line))
    return 0
