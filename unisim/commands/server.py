"""``unisim server start|stop|status`` (the team tracking server) and ``unisim sync``.

    unisim server start --profile team            # migrations, mlflow server, waits for /health
    unisim server start --auth --port 5001        # basic auth: MLFLOW_AUTH_ADMIN_PASSWORD required
    unisim server start --foreground              # containers: stay attached, SIGTERM stops
    unisim server status
    unisim server stop                            # the whole process tree it started
    unisim sync                                   # upload metric points journaled in outages

Settings come from ``mlruns-config/server.yaml``; secrets only from the environment.
"""

from __future__ import annotations

from typing import Annotated

import typer

from unisim.commands.common import console, err_console

app = typer.Typer(help="Run the team MLflow tracking server.", no_args_is_help=True)

ServerProfileOpt = Annotated[
    str | None, typer.Option("--profile", help="Profile in mlruns-config/server.yaml.")
]


@app.command()
def start(
    profile: ServerProfileOpt = None,
    port: Annotated[int | None, typer.Option(help="Port (overrides the profile).")] = None,
    workers: Annotated[int | None, typer.Option(help="uvicorn workers (overrides).")] = None,
    auth: Annotated[
        bool | None,
        typer.Option("--auth/--no-auth", help="MLflow basic auth (MLFLOW_AUTH_ADMIN_PASSWORD)."),
    ] = None,
    foreground: Annotated[
        bool, typer.Option("--foreground", help="Stay attached; SIGTERM/Ctrl-C stop the server.")
    ] = False,
) -> int:
    """Migrate the database, start mlflow server, wait until /health answers, print the URI."""
    from unisim.server import load_server_settings, run_foreground, start_server

    settings = load_server_settings(profile, port=port, workers=workers, auth=auth)
    err_console.print(
        f"starting mlflow server ({settings.profile}: {settings.workers} worker(s), "
        f"auth {'on' if settings.auth else 'off'}) ..."
    )
    if foreground:
        return run_foreground(settings)
    state = start_server(settings)
    console.print(state.uri)
    err_console.print(
        f"pid {state.pid}; log {state.log_file}; clients: export MLFLOW_TRACKING_URI={state.uri}"
    )
    return 0


@app.command()
def stop(profile: ServerProfileOpt = None) -> int:
    """Stop the server started from here (its whole process tree)."""
    from unisim.server import load_server_settings, stop_server

    result = stop_server(load_server_settings(profile).state_path)
    if not result["was_running"]:
        console.print("no server running (nothing to stop)")
        return 0
    killed = f", {len(result['killed'])} killed" if result["killed"] else ""
    from unisim.display import plural

    stopped = plural(len(result["stopped"]), "process", "processes")
    console.print(f"stopped {result['uri']} ({stopped}{killed})")
    return 0


@app.command()
def status(profile: ServerProfileOpt = None) -> int:
    """Is the server started from here running and healthy? Exit 1 when not."""
    from unisim.server import load_server_settings, server_status

    info = server_status(load_server_settings(profile).state_path)
    if not info["running"]:
        console.print("not running")
        return 1
    health = "healthy" if info["healthy"] else "NOT answering /health"
    console.print(f"{info['uri']} {health}")
    console.print(
        f"pid {info['pid']}, {info['processes']} processes, {info['workers']} worker(s), "
        f"auth {'on' if info['auth'] else 'off'}, up {info['uptime_s']:.0f} s, "
        f"backend {info['backend']}"
    )
    return 0 if info["healthy"] else 1


def sync(
    tracking_uri: Annotated[
        str | None,
        typer.Option(
            "--tracking-uri", help="Upload here (default: the URI each journal recorded)."
        ),
    ] = None,
    journal_dir: Annotated[
        str | None,
        typer.Option(help="Journal folder (default $UNISIM_JOURNAL_DIR, mlruns/journal)."),
    ] = None,
    run_id: Annotated[str | None, typer.Option("--run", help="Only this run's journal.")] = None,
) -> int:
    """Upload metric points that runs journaled while the server was unreachable (exactly once)."""
    from unisim.tracking.sync import sync_journals

    results = sync_journals(journal_dir, tracking_uri, run_id)
    if not results:
        console.print("nothing to sync")
        return 0
    failed = 0
    for r in results:
        if r.error:
            failed += 1
            err_console.print(
                f"[red]✗[/red] run {r.run_id}: {r.error} (journal kept)", soft_wrap=True
            )
            continue
        ended = f", run ended {r.ended}" if r.ended else ""
        console.print(
            f"[green]✓[/green] run {r.run_id}: sent {r.sent} points, "
            f"{r.skipped} already on the server{ended}",
            soft_wrap=True,  # one line per run, whatever the terminal width
        )
    return 1 if failed else 0
