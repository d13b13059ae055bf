"""benchmarks/accuracy.py: bad arguments are one line; --quick runs every step end to end.

.venv/bin/pytest tests/test_bench_accuracy.py -m slow -q     # the --quick smoke run (minutes)
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "accuracy.py"


def _run(*args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "UNISIM_"))}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--models", "latent,resnet"], "--models: unknown resnet"),
        (["--seeds", "0,one"], "--seeds: not a comma-separated list"),
        (["--config", "nope.yaml"], "--config: no such file: nope.yaml"),
    ],
)
def test_bad_arguments_are_one_line_exit_2(tmp_path, args, needle) -> None:
    proc = _run(*args)
    assert proc.returncode == 2, proc.stderr
    assert needle in proc.stderr.splitlines()[-1]
    assert "Traceback" not in proc.stderr


def test_per_trajectory_columns_are_read_by_seed_not_by_position() -> None:
    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        import accuracy
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    text = "trajectory,seed_2,seed_0,seed_10\n0,0.2,0.0,1.0\n1,0.25,0.05,1.5\n"
    assert accuracy.seed_columns(text) == [[0.0, 0.05], [0.2, 0.25], [1.0, 1.5]]


@pytest.mark.slow
def test_quick_run_tunes_fits_and_reports_intervals_for_every_model(tmp_path) -> None:
    out_json = tmp_path / "accuracy.json"
    keep = tmp_path / "keep"
    proc = _run("--quick", "--threads", "1", "--json", str(out_json), "--keep", str(keep))
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-3000:]
    data = json.loads(out_json.read_text())
    assert set(data["rows"]) == {"latent", "fno", "neuralop_fno"}
    for name, row in data["rows"].items():
        assert len(row["test"]) == 2 and len(row["heldout"]) == 2  # --quick: seeds 0 and 1
        # the sweep's choice: printed, in the JSON, and its config kept
        space = yaml.safe_load((REPO / "configs" / "sweeps" / f"{name}.yaml").read_text())
        assert set(row["best_params"]) == set(space["params"])
        assert None not in row["best_params"].values(), row["best_params"]
        assert f"{name}: best of the sweep (validation): " in proc.stdout
        kept = yaml.safe_load((keep / f"{name}-sweep-best.yaml").read_text())
        assert kept["model"]["name"] == name
        assert len(row["test"][0]) == 8 and len(row["heldout"][0]) == 8  # trajectories
        for split in ("test", "heldout"):
            s = data["stats"]["models"][name][split]
            assert s["low"] <= s["mean"] <= s["high"] and math.isfinite(s["mean"]), (name, s)
    for split in ("test", "heldout"):
        r = data["stats"]["ratio"][split]
        assert r["low"] <= r["ratio"] <= r["high"]
        assert f"ratio latent / neuralop_fno on {split}: {r['ratio']:.3f}" in proc.stdout
    assert "met" in proc.stdout
