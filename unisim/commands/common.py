"""Options and output helpers shared by the command modules."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

ConfigArg = Annotated[str, typer.Argument(help="Config YAML file.", metavar="CONFIG")]
SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        "-s",
        "--config-override",  # the original run_fast_to_sota.py spelling
        help="Override a config key: --set training.lr=3e-4 (repeatable).",
    ),
]
TrackingUriOpt = Annotated[
    str | None,
    typer.Option("--tracking-uri", help="MLflow tracking URI (beats MLFLOW_TRACKING_URI)."),
]
ProfileOpt = Annotated[
    str | None,
    typer.Option("--profile", help="Tracking profile in mlruns-config/ (or UNISIM_PROFILE)."),
]

ResultJsonOpt = Annotated[
    str | None, typer.Option("--result-json", help="Also write the result as JSON here.")
]


def parent_run_option(kind: str):  # -> an Annotated option type
    """``--parent-run-id``: nest this command's run under another (``unisim run`` sets it)."""
    return Annotated[
        str | None,
        typer.Option("--parent-run-id", help=f"Nest the {kind} run under this run."),
    ]


def target(
    tracking_uri: str | None, profile: str | None, *, read_only: bool = False
):  # -> TrackingTarget
    """Resolve the tracking store from the common options.

    ``read_only``: the command only reads; a SQLite store that is not there is an
    error (exit 2), never created.
    """
    from unisim.tracking import resolve_tracking

    return resolve_tracking(tracking_uri, profile, read_only=read_only)
