"""``unisim promote`` and ``unisim leaderboard``.

    unisim promote experiments/2026-11-29-64dim-latent --nrmse-threshold 0.10
    unisim promote 64dim-latent --dry-run
    unisim promote --run-id 3f2c... --force --stage
    unisim leaderboard --top 10 --csv reports/leaderboard.csv --html reports/leaderboard.html

Both call one library function (``unisim.registry.promote.promote``,
``unisim.reports.leaderboard.write_leaderboard``) and print its result.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.markup import escape

from unisim.commands.common import ProfileOpt, TrackingUriOpt, console, err_console, target

LEADERBOARD_CSV = "reports/leaderboard.csv"  # = unisim.reports.leaderboard.DEFAULT_CSV
LEADERBOARD_HTML = "reports/leaderboard.html"
SHOWN = 20  # table rows per protocol unless --top or --all (exports and --json hold all)


def promote(
    target_spec: Annotated[
        str | None,
        typer.Argument(
            metavar="TARGET",
            help="Experiment folder, experiment name or run id (best gates-passed run).",
        ),
    ] = None,
    run_id: Annotated[str | None, typer.Option("--run-id", help="Promote this run.")] = None,
    best: Annotated[
        str | None,
        typer.Option(
            "--best",
            metavar="EXPERIMENT",
            help="Promote the leaderboard's best run of this experiment.",
        ),
    ] = None,
    strict: Annotated[
        bool,
        typer.Option("--strict", help="Refuse when a better run of the same protocol exists."),
    ] = False,
    nrmse_threshold: Annotated[
        float | None, typer.Option("--nrmse-threshold", help="Refuse if final_nrmse is above.")
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Promote even if the run does not beat the champion (the comparison is "
            "still made and shown).",
        ),
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Validate and show every step; write nothing.")
    ] = False,
    auto_promote: Annotated[
        bool,
        typer.Option(
            "--auto-promote",
            help="Set by automation (the pipeline): recorded as 'auto' on the version.",
        ),
    ] = False,
    config_name: Annotated[
        str | None,
        typer.Option("--config-name", help="Production name: configs/train_<NAME>.yaml."),
    ] = None,
    production_dir: Annotated[
        str, typer.Option("--production-dir", help="Folder of production configs.")
    ] = "configs",
    stage: Annotated[
        bool,
        typer.Option("--stage", help="Also move the legacy 'Production' stage (deprecated)."),
    ] = False,
    model_name: Annotated[
        str | None,
        typer.Option("--model-name", help="Registered model (default: the run's config)."),
    ] = None,
    update_leaderboard: Annotated[
        bool | None,
        typer.Option(
            "--update-leaderboard/--no-update-leaderboard",
            help=f"Rewrite {LEADERBOARD_CSV} and {LEADERBOARD_HTML} (default: those that exist; "
            "reports/leaderboard-<store>.* for a store other than the default one).",
        ),
    ] = None,
    leaderboard_csv: Annotated[
        str | None, typer.Option("--leaderboard-csv", help="Rewrite this leaderboard CSV.")
    ] = None,
    tracking_uri: TrackingUriOpt = None,
    profile: ProfileOpt = None,
) -> int:
    """Register a run's model as the champion and write its production config."""
    from unisim.registry.promote import PromotionRefused
    from unisim.registry.promote import promote as do_promote

    tgt = target(tracking_uri, profile, read_only=dry_run)
    try:
        result = do_promote(
            target_spec,
            target=tgt,
            run_id=run_id,
            best=best,
            strict=strict,
            nrmse_threshold=nrmse_threshold,
            force=force,
            dry_run=dry_run,
            config_name=config_name,
            production_dir=production_dir,
            stage=stage,
            model_name=model_name,
            update_leaderboard=update_leaderboard,
            leaderboard_csv=leaderboard_csv,
            auto=auto_promote,
        )
    except PromotionRefused as exc:
        _print_checks(exc.result.checks)
        err_console.print(f"error: {escape(str(exc))}")
        return exc.exit_code
    _print_checks(result.checks)
    for warning in result.warnings:
        err_console.print(f"warning: {escape(warning)}", soft_wrap=True)
    if result.failed:  # --auto-promote returns refusals instead of raising
        err_console.print(f"not promoted: {escape(result.reason)}")
        return 1
    verb = "would" if result.dry_run else "done:"
    for step in result.steps:
        console.print(f"  {verb} {escape(step)}")
    for note in result.notes:
        err_console.print(f"note: {escape(note)}")
    if result.dry_run:
        console.print(f"dry run: run {result.run_id} can be promoted; nothing was written")
    else:
        console.print(
            f"[green]promoted[/green] run {result.run_id} as {result.model_name} version "
            f"{result.version} (champion; previous {result.previous_champion or 'none'})"
        )
        console.print(f"production config: {escape(str(result.config_path))}")
    console.print(f"registry: {result.url}")
    return 0


def _print_checks(checks: list) -> None:
    for check in checks:
        mark = "[green]✓[/green]" if check.passed else "[red]✗[/red]"
        console.print(f"{mark} {check.name}: {escape(check.detail)}")


def leaderboard(
    top: Annotated[int | None, typer.Option("--top", min=1, help="Show the best N.")] = None,
    csv: Annotated[
        str | None, typer.Option("--csv", help=f"Write a CSV export (e.g. {LEADERBOARD_CSV}).")
    ] = None,
    html: Annotated[
        str | None,
        typer.Option("--html", help=f"Write an HTML export (e.g. {LEADERBOARD_HTML})."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON rows.")] = False,
    all_rows: Annotated[
        bool,
        typer.Option(
            "--all", help=f"Print every row (the table shows {SHOWN} per protocol by default)."
        ),
    ] = False,
    protocol: Annotated[
        str | None,
        typer.Option("--protocol", metavar="HASH", help="Only runs of this protocol."),
    ] = None,
    tracking_uri: TrackingUriOpt = None,
    profile: ProfileOpt = None,
) -> int:
    """Gates-passed pipeline runs ranked by final_nrmse, one table per protocol (MLflow)."""
    from rich.console import Console
    from rich.table import Table

    from unisim.display import interval
    from unisim.reports.leaderboard import CHAMPION_MARK, export_leaderboard

    tgt = target(tracking_uri, profile, read_only=True)
    rows, written = export_leaderboard(tgt, top=top, csv=csv, html=html, protocol=protocol)
    if as_json:
        print(json.dumps(rows, indent=2))
        return 0
    shown = [
        ("rank", "#"),
        ("experiment", "experiment"),
        ("run_id", "run"),
        ("final_nrmse", "final_nrmse"),
        ("interval", "95% interval"),
        ("n_seeds", "seeds"),
        ("one_step_nrmse", "one_step"),
        ("latent_dim", "dim"),
        ("latent_tokens", "tokens"),
        ("n_params", "params"),
        ("train_time_s", "train s"),
        ("cost_usd", "$"),
        ("model_version", "version"),
        ("alias", "alias"),
        ("date", "date"),
    ]
    # Piped output is not cut to 80 columns: the table is for reading, the CSV for tools.
    out = console if console.is_terminal else Console(width=200, highlight=False)
    groups: dict[str, list[dict]] = {}
    for row in rows:
        groups.setdefault(row["protocol"], []).append(row)
    n_groups = f" in {len(groups)} protocols" if len(groups) > 1 else ""
    runs = f"{len(rows)} run{'' if len(rows) == 1 else 's'}"
    out.print(f"leaderboard ({runs}){n_groups}: ranked within each protocol")
    limit = None if all_rows or top else SHOWN
    for key, group in groups.items():
        summary = group[0].get("protocol_summary") or "no protocol recorded"
        n = len(group)
        table = Table(title=f"protocol {key}: {summary} ({n} run{'s' if n != 1 else ''})")
        for _, title in shown:
            table.add_column(title)
        for row in group[:limit]:
            low, high = row.get("final_nrmse_low"), row.get("final_nrmse_high")
            row["interval"] = interval(low, high) or None
            cells = [_cell(k, row.get(k)) for k, _ in shown]
            if "champion" in str(row.get("alias") or "").split(","):
                cells[0] = f"{cells[0]} {CHAMPION_MARK}"
            table.add_row(*cells)
        out.print(table)
        if limit is not None and n > limit:
            out.print(f"... {n - limit} more in this protocol (--top N or --all to see them)")
    for path in written:
        console.print(f"wrote {escape(str(path))}")
    return 0


def _cell(key: str, value: object) -> str:
    from unisim.display import num

    if value is None:
        return ""
    if key == "run_id":
        return str(value)[:8]
    return num(value) if isinstance(value, float) else str(value)
