"""``unisim configs validate|schema``: check config files, print the JSON schema."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from unisim.commands.common import SetOpt, console, err_console

app = typer.Typer(help="Validate configs and show their schema.", no_args_is_help=True)


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
