"""``unisim data generate|info``: make the Burgers dataset of a config, inspect an HDF5 file.

    unisim data generate configs/train_burgers_golden.yaml          # cached by data hash
    unisim data generate CONFIG --set data.equation.nu=0.1 --force           # regenerate anyway
    unisim data info data/cache/burgers_nu0.01_0123456789abcdef.hdf5
    unisim data info 1D_Burgers_Sols_Nu0.01.hdf5 --json             # PDEBench's own files too

Bad input (a config error, a grid too coarse for nu, a file without ``tensor``) is one
line on stderr and exit 2; nothing is written.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from unisim.commands.common import ConfigArg, SetOpt, console, err_console

app = typer.Typer(help="Generate and inspect Burgers datasets.", no_args_is_help=True)


class _Bar:
    """A rich progress bar on stderr, started on the first report (cache hits show none)."""

    def __init__(self, enabled: bool, label: str) -> None:
        self.enabled = enabled
        self.label = label
        self.progress = None
        self.task = None

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self.progress is None:
            from rich.progress import (
                BarColumn,
                Progress,
                TaskProgressColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self.progress = Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                TaskProgressColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=err_console,
            )
            self.progress.start()
            self.task = self.progress.add_task(self.label, total=total)
        self.progress.update(self.task, completed=done, total=total)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()


@app.command()
def generate(
    config: ConfigArg,
    set_: SetOpt = None,
    force: Annotated[
        bool, typer.Option("--force", help="Regenerate even if the cache file exists.")
    ] = False,
    progress: Annotated[
        bool, typer.Option("--progress/--no-progress", help="Show a progress bar.")
    ] = True,
) -> int:
    """Generate (or reuse) the dataset that CONFIG's data section describes."""
    from unisim.config import load_config
    from unisim.data import ensure_data
    from unisim.errors import UnisimError

    cfg = load_config(config, set_).data
    if cfg.source != "generate":
        raise UnisimError(f"{config}: data.source={cfg.source} has nothing to generate")
    bar = _Bar(progress, f"solving {cfg.pde.name.replace('_', '-').capitalize()}")
    try:
        made = ensure_data(cfg, progress=bar, force=force)
    finally:
        bar.close()
    n = cfg.n_train + cfg.n_val + cfg.n_test
    what = f"generated in {made.seconds:.1f} s" if made.generated else "reused (cached)"
    console.print(f"{made.path}  {what}")
    console.print(
        f"  {n} trajectories ({cfg.n_train} train, {cfg.n_val} val, {cfg.n_test} test) x "
        f"{cfg.nt} times x {cfg.nx} points, {cfg.pde.cache_name(cfg.equation)}, "
        f"data_hash {made.data_hash}"
    )
    return 0


@app.command()
def info(
    file: Annotated[str, typer.Argument(help="An HDF5 file in PDEBench's layout.", metavar="FILE")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    progress: Annotated[
        bool, typer.Option("--progress/--no-progress", help="Show a progress bar.")
    ] = True,
) -> int:
    """Shapes, nu, split sizes and mean/energy statistics of FILE."""
    from unisim.data.info import describe

    bar = _Bar(progress and not as_json, "reading")
    try:
        d = describe(file, progress=bar)
    finally:
        bar.close()
    if as_json:
        console.print_json(json.dumps(d, default=str))
        return 0
    s = d["stats"]
    n, nt, nx = d["shape"]
    nu = "unknown" if d["nu"] is None else f"{d['nu']} (from the {d['nu_from']})"
    console.print(f"[bold]{d['path']}[/bold]")
    console.print(f"  tensor      {n} trajectories x {nt} times x {nx} points (float32)")
    console.print(
        f"  x           [{d['x'][0]:.6g}, {d['x'][1]:.6g}]   t  [{d['t'][0]:g}, {d['t'][1]:g}]"
    )
    pde = d.get("pde")
    if pde and pde != "burgers":  # unisim's files name their PDE and fixed coefficients
        from unisim.pdes import get_pde

        names = get_pde(pde).coefficient_names
        fixed = ", ".join(f"{k}={d['attrs'][k]}" for k in names if k in d["attrs"])
        console.print(f"  pde         {pde} ({fixed or 'coefficients per trajectory'})")
    else:
        console.print(f"  nu          {nu}")
    if d["splits"]:
        sp = d["splits"]
        console.print(
            f"  splits      train {sp.get('n_train')}, val {sp.get('n_val')}, "
            f"test {sp.get('n_test')}"
        )
    console.print(
        f"  u           min {s['u_min']:.4g}, max {s['u_max']:.4g}, non-finite {s['nonfinite']}"
    )
    console.print(
        f"  mean        at t=0 in [{s['mean_t0_min']:.4g}, {s['mean_t0_max']:.4g}], "
        f"max drift {s['max_mean_drift']:.2e}"
    )
    console.print(
        f"  energy      mean_x u^2 {s['energy_t0']:.4g} at t=0 -> {s['energy_final']:.4g} at the "
        f"end; largest step increase {s['max_energy_increase']:.1e} of E(0)"
    )
    settings = {k: v for k, v in d["attrs"].items() if k not in ("n_train", "n_val", "n_test")}
    if settings:
        console.print("  attributes  " + ", ".join(f"{k}={v}" for k, v in sorted(settings.items())))
    return 0
