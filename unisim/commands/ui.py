"""``unisim ui``: the MLflow UI on the resolved store, bound to 127.0.0.1.

unisim ui                      # runs table of the newest experiment, model-training view
unisim ui --port 5801          # every link unisim prints afterwards uses 5801
eval "$(unisim ui --print-env)"   # plain `mlflow` commands on the same store
"""

from __future__ import annotations

from typing import Annotated

import typer

from unisim.commands.common import ProfileOpt, TrackingUriOpt, console, err_console, target


def ui(
    port: Annotated[
        int, typer.Option("--port", min=1, max=65535, help="Port on 127.0.0.1 (remembered).")
    ] = 5000,
    print_env: Annotated[
        bool,
        typer.Option(
            "--print-env",
            help="Print the `export MLFLOW_TRACKING_URI=...` line for plain MLflow tools; "
            "start nothing.",
        ),
    ] = False,
    tracking_uri: TrackingUriOpt = None,
    profile: ProfileOpt = None,
) -> int:
    """Open the MLflow UI on the same store unisim logs to (Ctrl-C stops it)."""
    from unisim.tracking.links import tracking_env_line
    from unisim.tracking.uiserver import landing_url, serve_ui

    tgt = target(tracking_uri, profile)
    if print_env:
        typer.echo(tracking_env_line(tgt))
        return 0
    if not tgt.is_local:
        console.print(f"Runs are on a server: open {landing_url(tgt)}")
        return 0

    def ready(url: str) -> None:
        console.print(f"MLflow UI on {tgt.uri}: {url}  (Ctrl-C stops it)")
        err_console.print(
            f"plain mlflow commands on this store: {tracking_env_line(tgt)}", soft_wrap=True
        )

    return serve_ui(tgt, port, on_ready=ready)
