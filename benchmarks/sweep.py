"""What pruning and a second worker buy a sweep: wall time and best validation nRMSE.

    .venv/bin/python benchmarks/sweep.py             # 16 trials each way, 8-trial worker check
    .venv/bin/python benchmarks/sweep.py --quick     # small sizes (a smoke test, minutes)
    .venv/bin/python benchmarks/sweep.py --trials 16 --worker-trials 8 --epochs 20

Four sweeps of one small Burgers problem (latent surrogate; the data generated, the
SQLite tracking store and the study database created before any timing), each a real
`unisim sweep` process in one temp folder, timed end to end (start-up, trials, summary,
best-config folder):

1. N trials, no pruning; 2. the same N trials (same TPE seed) with each pruner in
`--pruners` (default: median, hyperband, asha; the last two with rungs at epochs 1, 3, 9
and one in three trials going on); 3. a fixed number of unpruned trials with one worker,
then with two (`--workers 2`), on a space where only the learning rate varies, so that
every trial costs the same and the ratio measures the workers, not what was drawn.

Printed, per pruner: pruned / unpruned wall time (goal <= 0.5x) and the best val nRMSE
of the pruned sweep relative to the unpruned one (goal within 5%); then two workers /
one worker wall time (goal <= 0.6x). Single runs: on a shared machine the ratios move
with the load, which is printed at the start. Not a timed test. What pruning can save is
the training time of the pruned trials' remaining epochs; each trial also has a fixed
cost (its MLflow run, config, summary) and each worker process its imports (torch,
mlflow, optuna), so at --quick sizes, where a trial trains for a second or two, neither
ratio can reach its goal: the full size trains 20 epochs a trial so that training
dominates.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from unisim.sweep.space import PRUNERS

REPO = Path(__file__).resolve().parents[1]


def config(quick: bool, epochs: int) -> dict:
    nx, n_train = (32, 16) if quick else (64, 64)
    return {
        "name": "bench-sweep",
        "seed": 0,
        "data": {
            "nu": 0.1,
            "nx": nx,
            "solver_nx": 256,
            "nt": 11 if quick else 21,
            "n_train": n_train,
            "n_val": 8 if quick else 16,
            "n_test": 4,
        },
        "model": {
            "name": "latent",
            "latent": {"dim": 8, "tokens": 8, "processor": "mlp", "layers": 1, "hidden": 16},
        },
        "training": {
            "epochs": epochs,
            "batch_size": 16,
            "lr": 2e-3,
            "rollout_steps": 2,
            "device": "cpu",
            "checkpoint_every": epochs,
        },
        "tracking": {"experiment": "bench-sweep"},
    }


SPACE = {
    "sampler": {"seed": 0, "n_startup_trials": 4},
    "pruner": {"name": "median", "n_startup_trials": 3, "n_warmup_steps": 1},
    "params": {
        "training.lr": {"type": "float", "low": 1e-5, "high": 3e-2, "log": True},
        "model.latent.dim": {"type": "categorical", "choices": [4, 8, 16]},
        "model.latent.hidden": {"type": "categorical", "choices": [8, 16, 32]},
    },
}


# The worker comparison measures parallelism, so every trial costs the same: only the
# learning rate varies (the model is the config's). With the space above the two runs
# would draw different architectures (two workers sample concurrently, so TPE sees other
# results) and the ratio would mix the speed-up with the cost of what was drawn.
WORKER_SPACE = {
    "sampler": SPACE["sampler"],
    "params": {"training.lr": SPACE["params"]["training.lr"]},
}


def sweep(
    folder: Path, study: str, trials: int, *extra: str, space: str = "space.yaml"
) -> tuple[float, float | None]:
    """Wall seconds of one `unisim sweep` and the study's best value."""
    env = {
        k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "UNISIM_PROFILE")
    }
    env["PYTHONPATH"] = str(REPO)
    cmd = [sys.executable, "-m", "unisim", "sweep", "cfg.yaml", "--space", space]
    cmd += ["--trials", str(trials), "--study", study, *extra]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, cwd=folder, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if out.returncode:
        sys.exit(f"sweep {study} failed ({out.returncode}): {out.stderr[-2000:]}")
    with sqlite3.connect(folder / "mlruns" / "optuna.db") as conn:
        row = conn.execute(
            "SELECT MIN(v.value) FROM trial_values v JOIN trials t ON t.trial_id = v.trial_id "
            "JOIN studies s ON s.study_id = t.study_id WHERE s.study_name = ? "
            "AND t.state = 'COMPLETE'",
            (study,),
        ).fetchone()
        states = conn.execute(
            "SELECT t.state, COUNT(*) FROM trials t JOIN studies s ON s.study_id = t.study_id "
            "WHERE s.study_name = ? GROUP BY t.state",
            (study,),
        ).fetchall()
    print(f"  {study}: {seconds:.1f} s, best {row[0]}, trials {dict(states)}", flush=True)
    return seconds, row[0]


Timing = tuple[float, float | None]  # wall seconds, best val nRMSE


def report(
    trials: int,
    unpruned: Timing,
    pruned: dict[str, Timing],
    worker_trials: int,
    workers: tuple[float, float],
) -> str:
    """The table and the ratio lines run_all.py reads (one pair of lines per pruner)."""
    t_none, best_none = unpruned
    t_one, t_two = workers
    ratios = {name: t / t_none for name, (t, _) in pruned.items()}
    gaps = {
        name: (best - best_none) / best_none if best and best_none else float("nan")
        for name, (_, best) in pruned.items()
    }
    lines = ["", "| measure | value | goal |", "|---|---|---|"]
    lines.append(f"| {trials} trials unpruned (s) | {t_none:.1f} | |")
    lines += [
        f"| {trials} trials {name}-pruned (s) | {t:.1f} | |" for name, (t, _) in pruned.items()
    ]
    lines += [
        f"| {worker_trials} trials, 1 worker / 2 workers (s) | {t_one:.1f} / {t_two:.1f} | |",
        "",
    ]
    for name, (_, best) in pruned.items():
        lines.append(
            f"pruned ({name}) vs unpruned sweep wall time: {ratios[name]:.2f}x (goal <= 0.5x)"
        )
        lines.append(
            f"best val nRMSE pruned ({name}) vs unpruned: {gaps[name]:+.1%} "
            f"({best or float('nan'):.4g} vs {best_none or float('nan'):.4g}; goal within 5%)"
        )
    worker_ratio = t_two / t_one
    lines.append(f"two workers vs one, {worker_trials} trials: {worker_ratio:.2f}x (goal <= 0.6x)")
    lines.append(
        json.dumps({"prune_ratio": ratios, "best_gap": gaps, "worker_ratio": worker_ratio})
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="small sizes (a smoke test)")
    p.add_argument("--trials", type=int, default=None, help="trials per pruning sweep (16)")
    p.add_argument("--worker-trials", type=int, default=None, help="trials per worker sweep (8)")
    p.add_argument("--epochs", type=int, default=None, help="epochs per trial (20)")
    every = [name for name in PRUNERS if name != "none"]
    p.add_argument(
        "--pruners",
        default=",".join(every),
        help=f"comma-separated pruners, each one pruned sweep ({', '.join(every)})",
    )
    args = p.parse_args(argv)
    pruners = [x.strip() for x in args.pruners.split(",") if x.strip()]
    if not pruners or set(pruners) - set(every):
        p.error(f"--pruners {args.pruners}: a comma-separated list of {', '.join(every)}")
    trials = args.trials or (8 if args.quick else 16)
    worker_trials = args.worker_trials or (4 if args.quick else 8)
    epochs = args.epochs or (6 if args.quick else 20)

    print(f"machine: {os.cpu_count()} cpus, load {os.getloadavg()[0]:.2f} (1 min) at start")
    print(
        f"sweep benchmark: {trials} trials x {epochs} epochs, pruners {', '.join(pruners)}; "
        f"workers: {worker_trials} trials"
    )
    folder = Path(tempfile.mkdtemp(prefix="unisim-bench-sweep-"))
    try:
        (folder / "cfg.yaml").write_text(yaml.safe_dump(config(args.quick, epochs)))
        (folder / "space.yaml").write_text(yaml.safe_dump(SPACE))
        (folder / "workers.yaml").write_text(yaml.safe_dump(WORKER_SPACE))
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        subprocess.run(  # the data once, outside every timing
            [sys.executable, "-m", "unisim", "data", "generate", "cfg.yaml"],
            cwd=folder, env=env, check=True, capture_output=True,
        )  # fmt: skip
        warm = (  # the tracking store and the study database exist before any timing
            "from unisim.tracking import configure, resolve_tracking\n"
            "from unisim.sweep.storage import open_storage\n"
            "configure(resolve_tracking()); open_storage('sqlite:///mlruns/optuna.db')"
        )
        subprocess.run([sys.executable, "-c", warm], cwd=folder, env=env, check=True)
        t_none, best_none = sweep(folder, "unpruned", trials, "--pruner", "none")
        pruned = {name: sweep(folder, name, trials, "--pruner", name) for name in pruners}
        per_worker = ("--pruner", "none")
        t_one, _ = sweep(folder, "one-worker", worker_trials, *per_worker, space="workers.yaml")
        t_two, _ = sweep(
            folder,
            "two-workers",
            worker_trials,
            *per_worker,
            "--workers",
            "2",
            space="workers.yaml",
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    print(report(trials, (t_none, best_none), pruned, worker_trials, (t_one, t_two)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
