"""``unisim vast ...``: rent a GPU on Vast.ai, run the pipeline there, watch it, shut it down.

    unisim vast search 'gpu_name=RTX_4090 num_gpus=1 dph<1.0'
    unisim vast launch experiments/2026-11-29-64dim/config.yaml --dry-run
    unisim vast launch experiments/2026-11-29-64dim/config.yaml --offer 123456 --follow
    unisim vast status|logs|monitor|stop|destroy 7654321
    unisim vast setup-env --env-file .env

The API key comes from VAST_API_KEY or the vastai SDK's key file. Secrets
(MLFLOW_TRACKING_URI, credentials) are sent as instance env vars and never printed.
"""

from __future__ import annotations

from typing import Annotated

import typer

from unisim.commands.common import console, err_console

app = typer.Typer(help="Rented GPUs on Vast.ai: search, launch, monitor.", no_args_is_help=True)

STATUS_FIELDS = (
    *("id", "actual_status", "intended_status", "status_msg", "gpu_name", "num_gpus"),
    *("dph_total", "label", "image_uuid", "geolocation", "ssh_host", "ssh_port"),
)
IdArg = Annotated[int, typer.Argument(help="Instance id.", metavar="ID")]
TimeoutOpt = Annotated[
    float | None,
    typer.Option(
        "--timeout", help="Seconds to wait for 'running' (default: vast.start_timeout_s)."
    ),
]
PollOpt = Annotated[
    float | None,
    typer.Option("--poll-interval", help="Seconds between polls (default: vast.poll_s)."),
]


def _backend():  # -> VastBackend; looked up at call time so tests can swap in a fake
    from unisim.vast import backend

    return backend.open_backend()


def _vast_config(config: str | None):  # -> VastConfig
    from unisim.config import VastConfig, load_config

    # only the vast section matters here, not whether the data fit this machine
    return load_config(config, check_memory=False).vast if config else VastConfig()


def _say(text: str) -> None:
    console.print(text, markup=False, highlight=False, soft_wrap=True)


@app.command()
def search(
    query: Annotated[
        str | None, typer.Argument(help="Offer filter, e.g. 'gpu_name=RTX_4090 dph<1.0'.")
    ] = None,
    config: Annotated[
        str | None, typer.Option("--config", "-c", help="Take vast.query/order from this config.")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="Rows to show.")] = 20,
) -> int:
    """List offers for rent: GPU, $/h, reliability, CUDA, disk, location."""
    from rich.table import Table

    from unisim.vast.launch import format_offer, search_offers

    vast = _vast_config(config)
    offers = search_offers(_backend(), query, vast, limit=limit)
    if not offers:
        err_console.print(f"no offer matches {query or vast.query!r}")
        return 1
    table = Table(title=f"Vast.ai offers: {query or vast.query}")
    rows = [format_offer(offer) for offer in offers]
    for column in rows[0]:
        table.add_column(column, justify="right" if column not in ("GPU", "location") else "left")
    for row in rows:
        table.add_row(*row.values())
    console.print(table)
    return 0


@app.command()
def launch(
    config: Annotated[str, typer.Argument(help="Committed and pushed config YAML.")],
    offer: Annotated[
        int | None, typer.Option("--offer", help="Offer id (default: best for vast.query).")
    ] = None,
    auto_shutdown: Annotated[
        bool | None,
        typer.Option(
            "--auto-shutdown/--no-auto-shutdown",
            help="Stop or destroy (vast.auto_shutdown) the instance when the job ends.",
            show_default=False,
        ),
    ] = None,
    max_hours: Annotated[
        float | None,
        typer.Option("--max-hours", min=0.001, help="Watchdog (default: vast.max_hours)."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the script and the request; create nothing.")
    ] = False,
    follow: Annotated[
        bool, typer.Option("--follow", help="Follow the logs once the instance runs.")
    ] = False,
    timeout: TimeoutOpt = None,
    poll_interval: PollOpt = None,
    sweep: Annotated[
        str | None,
        typer.Option("--sweep", help="Run a sweep worker of this space instead of the pipeline."),
    ] = None,
    study: Annotated[
        str | None, typer.Option("--study", help="With --sweep: the study to join.")
    ] = None,
    trials: Annotated[
        int, typer.Option("--trials", min=1, help="With --sweep: finished trials in total.")
    ] = 20,
) -> int:
    """Rent an offer and run `unisim run CONFIG` there at the current commit.

    With --sweep SPACE --study NAME the instance runs `unisim sweep CONFIG --space SPACE
    --study NAME --worker` instead, joining the study in UNISIM_SWEEP_STORAGE.
    With --dry-run and --offer, no Vast API is called (and no API key is needed).
    """
    from unisim.errors import ConfigError
    from unisim.vast.launch import SweepJob, launch_config

    if (sweep is None) != (study is None):
        raise ConfigError("vast launch: --sweep SPACE and --study NAME go together")
    job = SweepJob(sweep, study, trials) if sweep and study else None

    result = launch_config(
        config,
        None if dry_run and offer is not None else _backend(),
        offer_id=offer,
        auto_shutdown=auto_shutdown,
        max_hours=max_hours,
        dry_run=dry_run,
        follow=follow,
        timeout_s=timeout,
        poll_s=poll_interval,
        write=_say,
        sweep=job,
    )
    if dry_run:
        print(result.plan.describe())  # plain print: a script must not be wrapped or marked up
        err_console.print("dry run: nothing was created")
    return 0


@app.command()
def status(instance_id: IdArg) -> int:
    """Show one instance: status, GPU, $/h, label."""
    from unisim.errors import UnisimError

    inst = _backend().show_instance(instance_id)
    if inst is None:
        raise UnisimError(f"instance {instance_id} not found")
    for key in STATUS_FIELDS:
        if inst.get(key) not in (None, ""):
            _say(f"{key:16} {inst[key]}")
    return 0


@app.command()
def logs(
    instance_id: IdArg,
    tail: Annotated[int, typer.Option("--tail", min=1, help="Last N lines.")] = 200,
) -> int:
    """Print the instance's recent log lines (known secrets masked)."""
    from unisim.vast.env import local_secrets, redact

    text = _backend().logs(instance_id, tail=tail)
    if text:
        _say(redact(text.rstrip("\n"), local_secrets()))
    return 0


@app.command()
def monitor(
    instance_id: IdArg,
    timeout: TimeoutOpt = None,
    poll_interval: PollOpt = None,
    follow: Annotated[
        bool, typer.Option("--follow/--no-follow", help="Follow the logs once running.")
    ] = True,
    tail: Annotated[int, typer.Option("--tail", min=1, help="Log lines per poll.")] = 500,
) -> int:
    """Wait until the instance runs (or give up, saying why), then follow its logs."""
    from unisim.config import VastConfig
    from unisim.vast.env import local_secrets
    from unisim.vast.monitor import monitor as run_monitor

    defaults = VastConfig()
    run_monitor(
        _backend(),
        instance_id,
        timeout_s=defaults.start_timeout_s if timeout is None else timeout,
        poll_s=defaults.poll_s if poll_interval is None else poll_interval,
        write=_say,
        follow=follow,
        tail=tail,
        secrets=local_secrets(),
    )
    return 0


@app.command()
def stop(instance_id: IdArg) -> int:
    """Stop an instance (its disk is kept, and billed)."""
    _backend().stop_instance(instance_id)
    _say(f"instance {instance_id}: stop requested")
    return 0


@app.command()
def destroy(
    instance_id: IdArg,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
) -> int:
    """Destroy an instance and its disk (irreversible; ends all billing)."""
    if not yes:
        typer.confirm(f"destroy instance {instance_id} and its disk?", abort=True)
    _backend().destroy_instance(instance_id)
    _say(f"instance {instance_id}: destroyed")
    return 0


@app.command("setup-env")
def setup_env(
    env_file: Annotated[str, typer.Option("--env-file", help="KEY=VALUE file.")] = ".env",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List what would be stored; store nothing.")
    ] = False,
) -> int:
    """Store MLFLOW_* and data credentials as Vast env vars; prints key names only."""
    from unisim.vast.env import setup_env as run_setup_env

    result = run_setup_env(_backend(), env_file, dry_run=dry_run)
    verb = "would store" if dry_run else "stored"
    for key in result.created:
        _say(f"{verb} {key} (new)")
    for key in result.updated:
        _say(f"{verb} {key} (updated)")
    for key, why in result.skipped.items():
        err_console.print(f"skipped {key}: {why}", markup=False, highlight=False)
    if not (result.created or result.updated):
        err_console.print(f"{env_file}: nothing to store")
    return 0
