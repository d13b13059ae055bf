"""benchmarks/accuracy.py runs end to end at tiny sizes and prints the pipeline's numbers.

.venv/bin/pytest tests/test_bench_accuracy.py -m slow -q     # the --quick smoke run (~1 min)
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "accuracy.py"
MODELS = ("unisim latent", "neuralop FNO", "unisim FNO", "persistence")


def _run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_TRACKING")}
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def _table(out: str) -> dict[str, list[str]]:
    rows = {}
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| ") and cells[0] in MODELS:
            rows[cells[0]] = cells
    return rows


@pytest.mark.slow
def test_quick_run_prints_table_goal_and_pipeline_time(tmp_path):
    # The library FNO comes with the `bench` extra (make bench), not with the test install.
    pytest.importorskip("neuralop", reason="benchmark peer: pip install -e '.[bench]'")
    proc = _run("--quick", "--threads", "1")
    out = proc.stdout
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "torch threads: 1" in out
    rows = _table(out)
    assert set(rows) == set(MODELS), out
    for name, cells in rows.items():
        rollout, one_step = float(cells[4]), float(cells[5])
        assert math.isfinite(rollout) and rollout > 0, (name, cells)
        assert math.isfinite(one_step) and one_step > 0, (name, cells)
    assert rows["neuralop FNO"][6] == "1.000"  # ratio to itself
    assert rows["persistence"][7] == "1.000"
    assert rows["persistence"][2] == "0"
    assert all(rows[m][2] == "1 (completed)" for m in MODELS[:3])  # --quick: one epoch each
    assert int(rows["neuralop FNO"][1].replace(",", "")) > 0
    assert re.search(r"unisim <= 0.8 x library FNO rollout nRMSE: (PASS|FAIL)", out)
    wall = re.search(
        r"unisim run wall time: ([\d.]+) s \(data cache pre-warmed; exit code 0\)", out
    )
    assert wall and float(wall[1]) > 0, out
    # the pipeline trained the same model on the same data with the same loop and seed
    check = re.search(r"best val/nrmse (\S+) vs (\S+),", out)
    assert check and check[1] == check[2], out
    assert (tmp_path / "data" / "cache").is_dir()  # the data cache lives in the working folder


def test_bad_override_is_one_line_exit_2():
    proc = _run("--quick", "--skip-run", "--set", "training.lr=-1")
    assert proc.returncode == 2
    assert "training.lr" in proc.stderr and "Traceback" not in proc.stderr
    assert "|" not in proc.stdout  # nothing trained, no table
