"""Accuracy at equal cost: the golden latent surrogate vs unisim's FNO vs neuraloperator's FNO.

    .venv/bin/python benchmarks/accuracy.py                 # the golden protocol (hours on 2 cores)
    .venv/bin/python benchmarks/accuracy.py --quick         # tiny sizes, minutes: a smoke run
    .venv/bin/python benchmarks/accuracy.py --trials 16 --trial-time-s 60 --fit-time-s 300
    .venv/bin/python benchmarks/accuracy.py --models latent,fno --seeds 0,1,2 --json out.json

Every model gets the same treatment, through the same commands a user runs, in a temp
folder on a fresh SQLite store (nothing inherited from the environment):

1. **Tuning, same budget, validation only.** ``unisim sweep CONFIG --space
   configs/sweeps/MODEL.yaml --trials N --set training.max_time_s=S`` (TPE, seeded, the
   same pruner): N trials, each trial's training capped at S seconds, the objective the
   validation nRMSE. The test and held-out splits are never opened here.
2. **Final fit, same wall time.** The sweep's best config (the ``*-sweep-best`` experiment
   it writes) runs as ``unisim run BEST --seeds 0,1,2 --force-full-eval --set
   training.max_time_s=T``: one training per seed, each capped at T seconds, evaluated on
   the test split (``per_trajectory.csv``: the rollout nRMSE of every test trajectory
   for every seed).
3. **Held-out.** ``unisim evaluate TRAIN_RUN --split heldout`` for every seed: the fixed
   held-out trajectories, from their own seed stream, never used for any choice.

Reported per model: rollout nRMSE on test and held-out, the mean over seeds and
trajectories with a 95% bootstrap interval (``unisim.evaluation.statistics``, seeds and
trajectories resampled together), the per-seed values, parameters, tuning and fit wall
times; then the latent / library-FNO ratio with a paired bootstrap interval on test and
held-out. Goal (issue 17): ratio <= 0.7 with the interval's upper end below 1.0, on both.
Whatever the ratio is, it is printed; the verdict says met or NOT met.

The configs: ``configs/train_burgers_golden.yaml`` with ``model.name`` set per model
(``--config`` for another). Exit code: 0 when everything ran (whatever the verdict), 1 when
a command failed, 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

DEFAULT_CONFIG = REPO / "configs" / "train_burgers_golden.yaml"
SPACES = REPO / "configs" / "sweeps"
MODELS = ("latent", "fno", "neuralop_fno")
RATIO = ("latent", "neuralop_fno")  # the goal's ratio: golden latent / library FNO
QUICK_SETS = [
    "data.n_train=24",
    "data.n_val=8",
    "data.n_test=8",
    "data.n_heldout=8",
    "data.nx=64",
    "data.solver_nx=1024",
    "training.epochs=2",
    "training.batch_size=8",
    "evaluation.plot_trajectories=0",
]
GOAL_RATIO, GOAL_HIGH = 0.7, 1.0


class CommandFailed(RuntimeError):
    pass


def unisim(args: list[str], cwd: Path, env: dict[str, str], log: Path) -> str:
    """Run ``python -m unisim ARGS`` in ``cwd``; its output goes to ``log`` and is returned."""
    cmd = [sys.executable, "-m", "unisim", *args]
    with log.open("a", encoding="utf-8") as out:
        out.write(f"\n$ unisim {' '.join(args)}\n")
        out.flush()
        proc = subprocess.run(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
    if proc.returncode not in (0, 1):  # 1: a gate failed (the benchmark reports, it does not gate)
        tail = log.read_text(encoding="utf-8")[-3000:]
        raise CommandFailed(f"unisim {' '.join(args[:2])} exited {proc.returncode}:\n{tail}")
    return log.read_text(encoding="utf-8")


def clean_env(threads: int) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MLFLOW_", "UNISIM_")) or k == "UNISIM_DATA_READ_LOG"
    }
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env["OMP_NUM_THREADS"] = str(threads)
    env["UNISIM_NO_BROWSER"] = "1"
    return env


def sets_args(sets: list[str]) -> list[str]:
    return [a for s in sets for a in ("--set", s)]


def best_config(work: Path, study: str) -> Path:
    """The config of the experiment folder the sweep wrote for ``study``."""
    found = sorted((work / "experiments").glob("*sweep-best*/config.yaml"))
    for path in reversed(found):
        notes = path.parent / "notes.md"
        if notes.is_file() and study in notes.read_text(encoding="utf-8"):
            return path
    raise CommandFailed(f"the sweep {study} wrote no *-sweep-best experiment under {work}")


def best_params(config: Path, space: Path) -> dict[str, Any]:
    """The values the sweep chose: every key of ``space`` read from the best ``config``."""
    import yaml

    from unisim.config import flatten

    flat = flatten(yaml.safe_load(config.read_text(encoding="utf-8")))
    return {key: flat.get(key) for key in yaml.safe_load(space.read_text("utf-8"))["params"]}


def pipeline_result(env: dict[str, str], work: Path) -> tuple[dict[str, Any], list[list[float]]]:
    """The newest pipeline run's summary.json and its (seeds, trajectories) test nRMSE
    (per_trajectory.csv: one row per test trajectory, one column per seed)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=env["MLFLOW_TRACKING_URI"])
    experiments = [e.experiment_id for e in client.search_experiments()]
    (run,) = client.search_runs(
        experiments, "tags.`unisim.kind` = 'pipeline'", order_by=["start_time DESC"], max_results=1
    )
    run_id = run.info.run_id
    summary = json.loads(
        Path(client.download_artifacts(run_id, "summary.json", str(work))).read_text()
    )
    text = Path(client.download_artifacts(run_id, "per_trajectory.csv", str(work))).read_text()
    return summary, seed_columns(text)


def seed_columns(text: str) -> list[list[float]]:
    """per_trajectory.csv's columns in seed order, read by their ``seed_N`` headers (the
    file's column order is not the seed order on every version of the pipeline)."""
    rows = list(csv.reader(io.StringIO(text)))
    columns = dict(zip(rows[0][1:], zip(*(r[1:] for r in rows[1:]), strict=True), strict=True))
    order = sorted(columns, key=lambda head: int(head.removeprefix("seed_")))
    return [[float(v) for v in columns[head]] for head in order]


def n_params(env: dict[str, str], run_id: str) -> int:
    from mlflow.tracking import MlflowClient

    from unisim.tracking.schema import TAG_N_PARAMS

    tags = MlflowClient(tracking_uri=env["MLFLOW_TRACKING_URI"]).get_run(run_id).data.tags
    return int(tags.get(TAG_N_PARAMS, 0))


def run_model(
    name: str, args: argparse.Namespace, base_sets: list[str], root: Path
) -> dict[str, Any]:
    """Tune, fit with every seed, evaluate on test and held-out: one model's row."""
    work = root / name
    work.mkdir()
    env = clean_env(args.threads)
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{work / 'mlruns' / 'mlflow.db'}"
    (work / "mlruns").mkdir()
    log = work / "commands.log"
    sets = [*base_sets, f"model.name={name}"]
    study = f"accuracy-{name}"
    space = SPACES / f"{name}.yaml"

    start = time.perf_counter()
    unisim(
        [
            "sweep", str(args.config), "--space", str(space), "--study", study,
            "--trials", str(args.trials), "--metric", "val/nrmse",
            *sets_args([*sets, f"training.max_time_s={args.trial_time_s}"]),
        ],
        work, env, log,
    )  # fmt: skip
    tune_s = time.perf_counter() - start
    best = best_config(work, study)
    chosen = best_params(best, space)
    print(
        f"   {name}: best of the sweep (validation): "
        + ", ".join(f"{k}={v}" for k, v in chosen.items()),
        flush=True,
    )
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(best, args.keep / f"{name}-sweep-best.yaml")

    start = time.perf_counter()
    unisim(
        [
            "run", str(best), "--seeds", ",".join(map(str, args.seeds)), "--force-full-eval",
            *sets_args([f"training.max_time_s={args.fit_time_s}"]),
        ],
        work, env, log,
    )  # fmt: skip
    fit_s = time.perf_counter() - start
    summary, test = pipeline_result(env, work)
    trains = [s for s in summary["stages"] if s["name"] == "train" and s.get("run_id")]
    heldout = []
    for stage in trains:
        out = work / f"heldout-{stage['seed']}.json"
        unisim(
            ["evaluate", stage["run_id"], "--split", "heldout", "--no-plots",
             "--result-json", str(out)],
            work, env, log,
        )  # fmt: skip
        heldout.append(json.loads(out.read_text(encoding="utf-8"))["per_trajectory"])
    first = trains[0]
    return {
        "model": name,
        "best_config": str(best),
        "best_params": chosen,
        "params": n_params(env, first["run_id"]),
        "train_s": [s["seconds"] for s in trains],
        "tune_s": tune_s,
        "fit_s": fit_s,
        "test": test,
        "heldout": heldout,
    }


def summarize(rows: dict[str, dict[str, Any]]) -> dict[str, Any]:
    from unisim.evaluation.statistics import ratio_interval, summarize_seeds

    out: dict[str, Any] = {"models": {}, "ratio": {}}
    for name, row in rows.items():
        out["models"][name] = {
            split: summarize_seeds(row[split]).to_dict() for split in ("test", "heldout")
        }
    a, b = RATIO
    if a in rows and b in rows:
        for split in ("test", "heldout"):
            out["ratio"][split] = ratio_interval(rows[a][split], rows[b][split]).to_dict()
    return out


def fmt_interval(s: dict[str, Any]) -> str:
    return f"{s['mean']:.4f} [{s['low']:.4f}, {s['high']:.4f}]"


def report(
    rows: dict[str, dict[str, Any]], stats: dict[str, Any], args: argparse.Namespace
) -> None:
    seeds = ",".join(map(str, args.seeds))
    print(
        f"\nRollout nRMSE, mean over seeds {seeds} and trajectories [95% bootstrap interval];"
        f" tuning: {args.trials} trials x {args.trial_time_s:g} s cap on validation; final fit:"
        f" {args.fit_time_s:g} s cap per seed"
    )
    head = f"  {'model':14s} {'params':>8s} {'test':>26s} {'held-out':>26s} {'per-seed test':>24s}"
    print(head + f" {'fit s/seed':>10s} {'tune s':>7s}")
    for name, row in rows.items():
        s = stats["models"][name]
        per_seed = ", ".join(f"{v:.4f}" for v in s["test"]["per_seed"])
        train_s = sum(row["train_s"]) / max(1, len(row["train_s"]))
        print(
            f"  {name:14s} {row['params'] or 0:>8,} {fmt_interval(s['test']):>26s} "
            f"{fmt_interval(s['heldout']):>26s} {per_seed:>24s} {train_s:10.0f} "
            f"{row['tune_s']:7.0f}"
        )
    a, b = RATIO
    for split, r in stats["ratio"].items():
        met = r["ratio"] <= GOAL_RATIO and r["high"] < GOAL_HIGH
        print(
            f"  ratio {a} / {b} on {split}: {r['ratio']:.3f} [{r['low']:.3f}, {r['high']:.3f}] "
            f"(goal <= {GOAL_RATIO}, upper end < {GOAL_HIGH}: {'met' if met else 'NOT met'})"
        )


def add_run_args(ap: argparse.ArgumentParser, quick: str) -> None:
    """--seeds, --threads, --set and --quick: the options of every script that fits seeds."""
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument(
        "--threads",
        type=int,
        default=int(os.environ.get("OMP_NUM_THREADS") or os.cpu_count() or 1),
        help="torch threads per command (default: OMP_NUM_THREADS, else every CPU)",
    )
    ap.add_argument("--set", action="append", default=[], help="config override (repeatable)")
    ap.add_argument("--quick", action="store_true", help=quick)


def parse_run_args(ap: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Parse ``argv``; --seeds becomes a list, and --quick keeps 2 seeds on tiny data."""
    args = ap.parse_args(argv)
    try:
        args.seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError:
        ap.error(f"--seeds: not a comma-separated list of integers: {args.seeds!r}")
    if args.quick:
        args.seeds = args.seeds[:2]
        args.set = [*QUICK_SETS, *args.set]
    return args


def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", type=Path, default=DEFAULT_CONFIG)
    ap.add_argument("--models", default=",".join(MODELS), help=f"of {', '.join(MODELS)}")
    ap.add_argument("--trials", type=int, default=16, help="sweep trials per model")
    ap.add_argument("--trial-time-s", type=float, default=60.0, help="training cap per trial")
    ap.add_argument("--fit-time-s", type=float, default=300.0, help="training cap per seed")
    add_run_args(ap, quick="tiny data, 3 trials, 2 seeds")
    ap.add_argument("--json", type=Path, help="also write every figure as JSON here")
    ap.add_argument("--keep", type=Path, help="copy each model's sweep-best config here")
    args = parse_run_args(ap, argv)
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in args.models if m not in MODELS]
    if unknown:
        ap.error(f"--models: unknown {', '.join(unknown)} (known: {', '.join(MODELS)})")
    if args.quick:
        args.trials, args.trial_time_s, args.fit_time_s = 3, 20.0, 30.0
    if not args.config.is_file():
        ap.error(f"--config: no such file: {args.config}")
    for m in args.models:
        if not (SPACES / f"{m}.yaml").is_file():
            ap.error(f"no search space for {m}: {SPACES / f'{m}.yaml'}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    os.environ["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"  # artifact reads, not output
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"machine: {os.cpu_count()} cpus, load average at start {load:.1f}; config "
        f"{args.config.name}; models {', '.join(args.models)}; {args.threads} torch thread(s) "
        f"per command; {'quick' if args.quick else 'full'}"
    )
    rows: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="unisim-accuracy-") as tmp:
        for name in args.models:
            t = time.perf_counter()
            print(f"\n== {name}: sweep ({args.trials} trials), fit ({len(args.seeds)} seeds) ...")
            try:
                rows[name] = run_model(name, args, list(args.set), Path(tmp))
            except CommandFailed as exc:
                print(f"FAILED {name}: {exc}")
                return 1
            print(f"   done in {time.perf_counter() - t:.0f} s")
    stats = summarize(rows)
    report(rows, stats, args)
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "stats": stats}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
