"""``unisim configs validate|schema|catalog|diff``: check, describe, list and compare configs.

    unisim configs validate configs/*.yaml
    unisim configs schema
    unisim configs catalog --csv configs/catalog.csv      # + each config's last pipeline run
    unisim configs diff configs/train_burgers_golden.yaml configs/train_burgers_32dim.yaml

``catalog`` exits 0 even when some configs are invalid (their rows carry the error
line and the count is printed); ``--strict`` makes that exit 1 for CI. ``diff``
exits 0 whether or not the configs differ; a config that does not load is exit 2.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from unisim.commands.common import (
    ProfileOpt,
    SetOpt,
    TrackingUriOpt,
    console,
    err_console,
    target,
)

app = typer.Typer(
    help="Validate, list and compare configs; show their schema.", no_args_is_help=True
)


@app.command()
def validate(
    paths: Annotated[list[str], typer.Argument(help="Config files to check.")],
    set_: SetOpt = None,
) -> int:
    """Load each config (includes and overrides applied); one line per file."""
    from unisim.config import config_hash, load_config
    from unisim.errors import ConfigError

    failed = 0
    for path in paths:
        try:
            cfg = load_config(path, set_)
        except ConfigError as exc:
            err_console.print(f"[red]✗[/red] {exc}")
            failed += 1
            continue
        console.print(f"[green]✓[/green] {path} (config_hash {config_hash(cfg)})")
    return 2 if failed else 0


@app.command()
def schema() -> int:
    """Print the config's JSON schema."""
    from unisim.config import json_schema

    console.print_json(json.dumps(json_schema()))
    return 0


def _print_table(table: Table) -> None:
    """Piped output gets 200 columns so paths and run ids are never cut."""
    if console.is_terminal:
        console.print(table)
    else:
        Console(width=200, highlight=False).print(table)


def _cell(value: object) -> str:
    from unisim.display import num

    return "-" if value is None else escape(num(value) if isinstance(value, float) else str(value))


@app.command()
def catalog(
    csv: Annotated[
        str | None,
        typer.Option("--csv", help="Also write a CSV here (e.g. configs/catalog.csv)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON rows.")] = False,
    all_: Annotated[
        bool, typer.Option("--all", help="Include experiments-archive/*/config.yaml.")
    ] = False,
    offline: Annotated[
        bool, typer.Option("--offline", help="Do not read MLflow (no run columns).")
    ] = False,
    strict: Annotated[
        bool, typer.Option("--strict", help="Exit 1 when any config is invalid.")
    ] = False,
    tracking_uri: TrackingUriOpt = None,
    profile: ProfileOpt = None,
) -> int:
    """Every config in configs/ and experiments/: key fields and its last pipeline run."""
    from unisim.reports.catalog import build_catalog

    tgt = None if offline else target(tracking_uri, profile, read_only=True)
    cat = build_catalog(target=tgt, include_archive=all_, offline=offline, csv_path=csv)
    if as_json:
        typer.echo(json.dumps([row.to_dict() for row in cat.rows], indent=2, default=str))
    else:
        table = Table(
            "config", "model", "latent", "nu", "grid", "epochs", "lr", "batch", "gates",
            "last nRMSE", "status", "date",
        )  # fmt: skip
        for row in cat.rows:
            if not row.valid:
                table.add_row(escape(row.path), "[red]invalid[/red]", *["" for _ in range(10)])
                continue
            f, last = row.fields, row.last
            latent = f"{f['latent_dim']}x{f['latent_tokens']}" if f["latent_dim"] else "-"
            table.add_row(
                escape(row.path),
                escape(f["model"]),
                latent,
                _cell(f["nu"]),
                f"{f['grid_nx']}x{f['grid_nt']}",
                _cell(f["epochs"]),
                _cell(f["lr"]),
                _cell(f["batch_size"]),
                escape(f["gates"]),
                _cell(last.final_nrmse) if last else "-",
                escape(last.status) if last else "-",
                f"{last.started:%Y-%m-%d %H:%M}" if last and last.started else "-",
            )
        _print_table(table)
        for row in cat.rows:
            if not row.valid:
                err_console.print(f"[red]✗[/red] {escape(row.error or '')}")
    from unisim.display import plural

    summary = f"{plural(len(cat.rows), 'config')}, {cat.invalid} invalid, {cat.with_runs} with runs"
    err_console.print(f"{summary}; MLflow: {escape(cat.mlflow)}")
    if cat.csv_path:
        err_console.print(f"wrote {escape(cat.csv_path)}")
    return 1 if strict and cat.invalid else 0


@app.command()
def diff(
    a: Annotated[str, typer.Argument(help="First config file.", metavar="A")],
    b: Annotated[str, typer.Argument(help="Second config file.", metavar="B")],
    set_: SetOpt = None,
    set_a: Annotated[
        list[str] | None, typer.Option("--set-a", help="Override a key of A only (repeatable).")
    ] = None,
    set_b: Annotated[
        list[str] | None, typer.Option("--set-b", help="Override a key of B only (repeatable).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> int:
    """Keys whose resolved values differ between two configs (includes and overrides applied)."""
    from unisim.config import diff_configs

    d = diff_configs(a, b, set_, set_a, set_b)
    if as_json:
        typer.echo(json.dumps(d.to_dict(), indent=2))
        return 0
    if not d.rows:
        console.print(f"no differences (config_hash {d.hash_a})", soft_wrap=True)
        return 0
    table = Table("key", escape(f"A: {d.a}"), escape(f"B: {d.b}"))
    for key, va, vb in d.rows:
        table.add_row(
            escape(key), "-" if va is None else escape(va), "-" if vb is None else escape(vb)
        )
    _print_table(table)
    same = "same model (equal config_hash)" if d.same_model else "different models"
    n = len(d.rows)
    keys = f"{n} key differs" if n == 1 else f"{n} keys differ"
    console.print(f"{keys}; {same}: A {d.hash_a}, B {d.hash_b}", soft_wrap=True)
    return 0
