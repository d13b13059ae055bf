"""Every read command of unisim on a store of 10,000 runs, beside `experiments list` (goal <= 1 s).

    .venv/bin/python benchmarks/read_commands.py                   # 100 experiments x 100 runs
    .venv/bin/python benchmarks/read_commands.py --quick           # 5 x 8 (CI-size smoke test)
    .venv/bin/python benchmarks/read_commands.py --experiments 20 --runs 50 --repeat 5

Builds the store the way ``lifecycle_scale.py`` does (one template experiment through
MLflow's API: pipeline runs with nested train/evaluate runs, the flattened config as
params, unisim tags and metrics, 20 epochs of history on train runs; then cloned in SQL
into ``--experiments`` experiments), points every pipeline run at its train run
(``unisim.train_run``, as ``unisim run`` does) and registers a model with a few
versions and a champion. Then it times each command as a user runs it, a ``python -m
unisim`` subprocess with the store in ``MLFLOW_TRACKING_URI`` (best of ``--repeat``):

    experiments list (the reference)   runs list   runs list EXP --kind pipeline
    runs show RUN (a pipeline run)     runs compare RUN RUN   runs open RUN
    registry list   registry show NAME   leaderboard

and prints seconds, the ratio to ``experiments list`` and whether each is within 1 s.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(HERE))

GOAL_S = 1.0
MODEL = "bench-surrogate"


def link_train_runs(db: Path) -> int:
    """``unisim.train_run`` on every pipeline run: its (first) train child."""
    with sqlite3.connect(db) as con:
        con.execute(
            "INSERT OR IGNORE INTO tags (key, value, run_uuid) "
            "SELECT 'unisim.train_run', MIN(k.run_uuid), p.value FROM tags p "
            "JOIN tags k ON k.run_uuid = p.run_uuid AND k.key = 'unisim.kind' "
            "AND k.value = 'train' WHERE p.key = 'mlflow.parentRunId' GROUP BY p.value"
        )
        return con.execute("SELECT count(*) FROM tags WHERE key = 'unisim.train_run'").fetchone()[0]


def register(client, db: Path, n_versions: int = 5) -> list[str]:
    """A registered model with versions from the best pipeline runs; champion = the first."""
    from unisim import tracking as T

    with sqlite3.connect(db) as con:
        best = con.execute(
            "SELECT m.run_uuid, m.value, t.value FROM latest_metrics m "
            "JOIN tags t ON t.run_uuid = m.run_uuid AND t.key = 'unisim.train_run' "
            "WHERE m.key = 'final_nrmse' ORDER BY m.value LIMIT ?",
            (n_versions,),
        ).fetchall()
    client.create_registered_model(MODEL)
    versions = []
    for run_id, nrmse, train in best:
        tags = {T.VTAG_RUN: run_id, T.VTAG_TRAIN_RUN: train, T.VTAG_FINAL_NRMSE: str(nrmse)}
        mv = client.create_model_version(MODEL, f"runs:/{train}/model", run_id=train, tags=tags)
        versions.append(str(mv.version))
    client.set_registered_model_alias(MODEL, T.ALIAS_CHAMPION, versions[0])
    return [r[0] for r in best]


def timed_cli(root: Path, uri: str, args: list[str], repeat: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the process), each the best of ``repeat``; the CPU time
    (user + system) says what the command costs on a machine busy with other work."""
    import resource

    env = {k: v for k, v in os.environ.items() if k != "UNISIM_PROFILE"}
    env.update(MLFLOW_TRACKING_URI=uri, PYTHONPATH=str(REPO), COLUMNS="200")
    best, best_cpu = float("inf"), float("inf")
    for _ in range(repeat):
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "unisim", *args],
            cwd=root,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        best = min(best, time.perf_counter() - t)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - usage.ru_utime) + (after.ru_stime - usage.ru_stime)
        best_cpu = min(best_cpu, cpu)
    return best, best_cpu


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--experiments", type=int, default=100)
    ap.add_argument("--runs", type=int, default=100, help="runs per experiment")
    ap.add_argument("--children", type=int, default=3, help="child runs per pipeline run")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="5 experiments x 8 runs, 1 repeat")
    ap.add_argument("--dir", help="work folder (default: a temp folder, removed afterwards)")
    args = ap.parse_args(argv)
    if args.quick:
        args.experiments, args.runs, args.repeat = 5, 8, 1
    root = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="unisim-read-bench-"))
    try:
        return run(args, root)
    finally:
        if not args.dir:
            shutil.rmtree(root, ignore_errors=True)


def run(args: argparse.Namespace, root: Path) -> int:
    from lifecycle_scale import build_template, clone

    from unisim import tracking as T

    os.environ.pop("MLFLOW_TRACKING_URI", None)
    root.mkdir(parents=True, exist_ok=True)
    os.chdir(root)
    db = root / "store" / "mlflow.db"
    store = T.TrackingTarget(f"sqlite:///{db}", (root / "store" / "artifacts").as_uri())
    client = T.configure(store)
    t = time.perf_counter()
    template = build_template(client, store, root, args.runs, args.children)
    names = clone(db, client, store, template, args.experiments, root)
    linked = link_train_runs(db)
    best = register(client, db)
    with sqlite3.connect(db) as con:
        n_runs = con.execute("SELECT count(*) FROM runs").fetchone()[0]
        pipeline = con.execute(
            "SELECT run_uuid FROM tags WHERE key = 'unisim.kind' AND value = 'pipeline' LIMIT 2"
        ).fetchall()
    print(
        f"store: {args.experiments} experiments x {args.runs} runs = {n_runs} runs "
        f"({linked} pipeline runs, {args.children} children each; model {MODEL} with "
        f"{len(best)} versions), built in {time.perf_counter() - t:.1f} s"
    )
    a, b = best[0], (best[1] if len(best) > 1 else pipeline[-1][0])
    plan = [
        ("experiments list", ["experiments", "list"]),
        ("runs list", ["runs", "list"]),
        ("runs list EXP --kind pipeline", ["runs", "list", names[0], "--kind", "pipeline"]),
        ("runs show RUN", ["runs", "show", a]),
        ("runs compare RUN RUN", ["runs", "compare", a, b]),
        ("runs open RUN", ["runs", "open", a]),
        ("registry list", ["registry", "list"]),
        ("registry show NAME", ["registry", "show", MODEL]),
        ("leaderboard", ["leaderboard"]),
    ]
    results = [(what, *timed_cli(root, store.uri, cmd, args.repeat)) for what, cmd in plan]
    ref = results[0][1]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"\nload average {load:.1f} on {os.cpu_count()} CPUs while timing")
    print(
        f"| command (CLI process, best of {args.repeat}) | wall s | CPU s | "
        f"wall x experiments list | <= {GOAL_S:g} s |"
    )
    print("|---|---|---|---|---|")
    for what, secs, cpu in results:
        ok = "yes" if secs <= GOAL_S else "NO"
        print(f"| `unisim {what}` | {secs:.2f} | {cpu:.2f} | {secs / ref:.2f} | {ok} |")
    slowest = max(results[1:], key=lambda r: r[1])  # the read commands, not the reference
    verdict = "PASS" if slowest[1] <= GOAL_S else "FAIL"
    print(
        f"\nevery read command <= {GOAL_S:g} s on {n_runs} runs: {verdict} "
        f"(slowest: {slowest[0]} {slowest[1]:.2f} s wall, {slowest[2]:.2f} s CPU; "
        f"experiments list {ref:.2f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
