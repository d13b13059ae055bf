"""``unisim sweep CONFIG --space SPACE.yaml``: an Optuna search, every trial an MLflow run.

    unisim sweep configs/train_burgers_golden.yaml --space configs/sweeps/latent.yaml --trials 16
    unisim sweep CONFIG --space S --budget-s 3600 --workers 2     # two local worker processes
    unisim sweep CONFIG --space S --study NAME --worker           # join NAME from another machine
    unisim sweep show NAME                                        # the trials leaderboard

Bad input (space file, config, metric, storage) is one line on stderr, exit 2, before
anything is written. Rerunning the same command continues the study: ``--trials N``
is the number of finished trials the study holds in total.
"""

from __future__ import annotations

from typing import Annotated

import typer

from unisim.commands.common import (
    ConfigArg,
    ProfileOpt,
    SetOpt,
    TrackingUriOpt,
    console,
)


def sweep(
    config: ConfigArg,
    name: Annotated[
        str | None,
        typer.Argument(help="With `show`: the study to list.", metavar="NAME", show_default=False),
    ] = None,
    space: Annotated[
        str | None, typer.Option("--space", help="Search space YAML (keys and distributions).")
    ] = None,
    trials: Annotated[
        int, typer.Option("--trials", min=1, help="Finished trials the study should hold.")
    ] = 20,
    budget_s: Annotated[
        float | None,
        typer.Option(
            "--budget-s",
            min=1,
            help="Wall-clock budget: no trial starts after it; one still training stops "
            "after its epoch (failed, not counted).",
        ),
    ] = None,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Local worker processes.")] = 1,
    study: Annotated[
        str | None, typer.Option("--study", help="Study name (default: CONFIG name + space).")
    ] = None,
    metric: Annotated[
        str, typer.Option("--metric", help="Per-epoch validation metric to minimise.")
    ] = "val/nrmse",
    pruner: Annotated[
        str | None,
        typer.Option(
            "--pruner", help="median | hyperband | asha | none (default: the space file's)."
        ),
    ] = None,
    storage: Annotated[
        str | None,
        typer.Option(
            "--storage",
            help="Optuna storage URL (default: UNISIM_SWEEP_STORAGE, "
            "else SQLite beside the local store).",
        ),
    ] = None,
    worker: Annotated[
        bool, typer.Option("--worker", help="Only run trials of an existing study (no summary).")
    ] = False,
    sweep_run_id: Annotated[
        str | None, typer.Option("--sweep-run-id", hidden=True, help="The sweep run (workers).")
    ] = None,
    set_: SetOpt = None,
    tracking_uri: TrackingUriOpt = None,
    profile: ProfileOpt = None,
) -> int:
    """Search hyperparameters of CONFIG on the validation split (or: sweep show NAME)."""
    from unisim.errors import ConfigError

    if config == "show":
        if not name:
            raise ConfigError("sweep show: name the study (unisim sweep show NAME)")
        return _show(name, storage, tracking_uri, profile)
    if name is not None:
        raise ConfigError(f"sweep: unexpected argument {name!r} (did you mean --study {name}?)")
    if not space:
        raise ConfigError("sweep: --space SPACE.yaml is required")

    from unisim.sweep.run import SweepRequest, run_sweep

    req = SweepRequest(
        config=config,
        space=space,
        overrides=list(set_ or []),
        n_trials=trials,
        budget_s=budget_s,
        workers=workers,
        study=study,
        metric=metric,
        pruner=pruner,
        storage=storage,
        worker=worker,
        sweep_run_id=sweep_run_id,
        tracking_uri=tracking_uri,
        profile=profile,
    )
    result = run_sweep(req)
    c = result.counts
    console.print(
        f"study {result.study}: {c.finished} finished trials ({c.complete} complete, "
        f"{c.pruned} pruned), {c.failed} failed, {c.running} running"
    )
    if worker:
        return 0
    if result.best:
        b = result.best
        console.print(f"best trial #{b['number']}: {metric} {b['value']:.5g} (validation)")
        console.print(f"  params {b['params']}")
        console.print(f"  best config: {result.best_dir}/config.yaml")
    console.print(f"  sweep run {result.sweep_run_id}: {result.url}")
    if c.finished < trials:
        console.print(f"  {trials - c.finished} trials to go: run the same command to continue")
    return 0


def _show(name: str, storage: str | None, tracking_uri: str | None, profile: str | None) -> int:
    from pathlib import Path

    from rich.table import Table

    from unisim.errors import UnisimError
    from unisim.sweep.result import load_leaderboard
    from unisim.sweep.storage import storage_url
    from unisim.tracking import resolve_tracking

    url = storage_url(resolve_tracking(tracking_uri, profile, read_only=True), storage)
    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///") :]).is_file():
        raise UnisimError(f"no sweeps yet: {url[len('sqlite:///') :]} does not exist")
    rows = load_leaderboard(name, url)
    table = Table(title=f"study {name}: {len(rows)} trials")
    for col in ("#", "state", "value", "epochs", "seconds", "params", "run"):
        table.add_column(
            col, justify="right" if col in ("#", "value", "epochs", "seconds") else "left"
        )
    for r in rows:
        value = f"{r['value']:.5g}" if r["value"] is not None else "-"
        params = ", ".join(f"{k.rsplit('.', 1)[-1]}={_fmt(v)}" for k, v in r["params"].items())
        table.add_row(
            str(r["number"]),
            r["state"].lower(),
            value,
            str(r["epochs"]),
            "-" if r["seconds"] is None else f"{r['seconds']:.0f}",
            params,
            (r["run_id"] or "-")[:12],
        )
    console.print(table)
    return 0


def _fmt(value: object) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)
