"""The PDE suite as a benchmark: every family's golden config and its FNO baseline.

    .venv/bin/python benchmarks/suite.py            # benchmarks/suite.yaml, full (~1 hour, 2 cores)
    .venv/bin/python benchmarks/suite.py --quick    # tiny data, one epoch each (~2 minutes)

Runs ``unisim suite benchmarks/suite.yaml`` as a subprocess in a temp folder on a fresh
SQLite store (no tracking settings inherited) and prints its table: PDE, coefficients,
model, test rollout nRMSE, ratio to persistence and to the FNO trained on the same data,
wall time, the full evaluation's gates and, for a config with held-out coefficients (the
multi-viscosity Burgers), the held-out rollout nRMSE told the true / the nearest training
coefficient (goal: true < nearest). One seed per row: a row is a measurement, not an
interval (the accuracy benchmark gives intervals for Burgers). Goal (issue 18): every
golden config's model beats persistence and its FNO (ratios < 1) and each ``unisim run``
stays under 600 s.
Exit code: 0 when the suite ran (whatever the verdict), 1 when it failed.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
SUITE = REPO / "benchmarks" / "suite.yaml"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--suite", type=Path, default=SUITE)
    ap.add_argument("--quick", action="store_true", help="tiny data, one epoch per child")
    args = ap.parse_args(argv)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {os.cpu_count()} cpus, load average at start {load:.1f}")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "UNISIM_"))}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    with tempfile.TemporaryDirectory(prefix="unisim-suite-") as tmp:
        out = Path(tmp) / "suite.md"
        suite = Path(tmp) / "suite.yaml"  # config paths made absolute: the suite runs in tmp
        raw = yaml.safe_load(args.suite.read_text(encoding="utf-8"))
        raw["configs"] = [
            str((REPO / c).resolve())
            if isinstance(c, str)
            else {**c, "config": str((REPO / c["config"]).resolve())}
            for c in raw["configs"]
        ]
        suite.write_text(yaml.safe_dump(raw), encoding="utf-8")
        cmd = [sys.executable, "-m", "unisim", "suite", str(suite), "--out", str(out)]
        cmd += ["--quick"] if args.quick else []
        start = time.perf_counter()
        proc = subprocess.run(cmd, cwd=tmp, env=env)
        wall = time.perf_counter() - start
        if proc.returncode != 0 or not out.is_file():
            print(f"unisim suite failed (exit code {proc.returncode})")
            return 1
        table = out.read_text(encoding="utf-8")
    print(f"\nPDE suite ({'quick' if args.quick else 'full'}), one seed per row, {wall:.0f} s:")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
