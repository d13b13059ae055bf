"""``unisim suite [SUITE]``: every PDE's golden config (and its FNO baseline) under one run.

unisim suite                                     # benchmarks/suite.yaml
unisim suite benchmarks/suite.yaml --quick          # tiny: a smoke test of every PDE
unisim suite --set training.epochs=2 --out suite.md
"""

from __future__ import annotations

from typing import Annotated

import typer

from unisim.commands.common import ProfileOpt, SetOpt, TrackingUriOpt, console, target

# --quick: a few trajectories and one epoch per child, to check the suite end to end
QUICK = [
    "data.n_train=16",
    "data.n_val=4",
    "data.n_test=4",
    "training.epochs=1",
    "training.max_time_s=60",
    "evaluation.plot_trajectories=0",
]


def suite(
    path: Annotated[
        str, typer.Argument(help="The suite file: configs and baselines.", metavar="SUITE")
    ] = "benchmarks/suite.yaml",
    set_: SetOpt = None,
    quick: Annotated[
        bool, typer.Option("--quick", help="Tiny data and one epoch per child (smoke test).")
    ] = False,
    out: Annotated[
        str | None, typer.Option("--out", help="Also write the Markdown table to this file.")
    ] = None,
    tracking_uri: TrackingUriOpt = None,
    profile: ProfileOpt = None,
) -> int:
    """Run every config of SUITE as a child pipeline under one parent run; print one table."""
    from pathlib import Path

    from rich.table import Table

    from unisim.commands.run import _Printer
    from unisim.pipeline.suite import COLUMNS, _fmt, run_suite

    overrides = [*(QUICK if quick else []), *(set_ or [])]
    result = run_suite(path, overrides, target=target(tracking_uri, profile), on_event=_Printer())
    table = Table(title=f"suite {result.run_id}")
    for _, title in COLUMNS:
        table.add_column(title)
    for row in result.rows:
        table.add_row(*(_fmt(row.get(k)) for k, _ in COLUMNS))
    console.print(table)
    if out:
        Path(out).write_text(result.table_md, encoding="utf-8")
        console.print(f"table written to {out}")
    console.print(f"suite run: {result.links.get('suite', result.run_id)}")
    return result.exit_code
