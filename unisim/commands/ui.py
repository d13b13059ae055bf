"""``unisim ui``: the MLflow UI on the resolved store, bound to 127.0.0.1."""

from __future__ import annotations

import subprocess
import sys
from typing import Annotated

import typer

from unisim.commands.common import ProfileOpt, TrackingUriOpt, console, target


def ui(
    port: Annotated[int, typer.Option(help="Port on 127.0.0.1.")] = 5000,
    tracking_uri: TrackingUriOpt = None,
    profile: ProfileOpt = None,
) -> int:
    """Open the MLflow UI on the same store unisim logs to (Ctrl-C stops it)."""
    tgt = target(tracking_uri, profile)
    if not tgt.is_local:
        console.print(f"Runs are on a server: open {tgt.ui_base()}/#/experiments")
        return 0
    cmd = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--backend-store-uri", tgt.uri, "--workers", "1"]
    if tgt.artifact_root:
        cmd += ["--default-artifact-root", tgt.artifact_root]
    console.print(f"MLflow UI on {tgt.uri}: http://127.0.0.1:{port}/#/experiments (Ctrl-C stops)")
    try:
        return subprocess.call(cmd)
    except KeyboardInterrupt:
        return 0
