"""Scale check of ``unisim experiments list`` and ``unisim runs list`` (issue 7's goal: <= 2 s).

    .venv/bin/python benchmarks/lifecycle_scale.py                       # 100 x 100 runs
    .venv/bin/python benchmarks/lifecycle_scale.py --experiments 20 --runs 20
    .venv/bin/python benchmarks/lifecycle_scale.py --children 0          # all pipeline runs

Builds a SQLite store like the pipeline fills it: one template experiment written
through MLflow's API (pipeline runs with ``--children`` nested train/evaluate runs
each; every run has the flattened config as params, unisim tags and metrics, train
runs 20 epochs of history), then cloned in SQL into ``--experiments`` experiments with
new run ids (10,000 runs through the API take ~10 minutes here; cloning takes
seconds and yields the same rows). Every experiment gets its folder under
experiments/. Then it times, in one run:

    experiments list     list_experiments() in process, and the CLI as a subprocess
    experiments list     through MLflow's API (the fallback for server stores)
    runs list            list_runs(EXPERIMENT) and list_runs() (all, newest 50), and the CLI
    baselines            mlflow.search_runs() over all experiments into pandas;
                         MlflowClient.search_runs of the pipeline runs (no pandas)

and prints seconds (best of --repeat for the fast ones) with ratios to the baseline.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def build_template(client, store, root: Path, n_runs: int, children: int) -> str:
    """One experiment of ``n_runs`` runs written through the API; returns its id."""
    from mlflow.entities import Metric, Param, RunTag

    from unisim import tracking as T
    from unisim.config import Config, flatten

    name = "2026-01-01-template"
    exp_id = T.get_or_create_experiment(
        client, name, store, {T.TAG_EXPERIMENT_DIR: f"experiments/{name}"}
    )
    params = [Param(k, v) for k, v in flatten(Config()).items()]
    t0 = int(time.time() * 1000) - 86_400_000 * 3
    parent = None
    for i in range(n_runs):
        pipeline = i % (children + 1) == 0
        start = t0 + i * 60_000
        tags = {
            T.TAG_KIND: "pipeline" if pipeline else ("train" if i % 2 else "evaluate"),
            T.TAG_EXPERIMENT_DIR: f"experiments/{name}",
            T.TAG_CONFIG_HASH: "0" * 16,
            T.TAG_GIT_COMMIT: "f" * 40,
            T.TAG_GIT_DIRTY: "false",
            "unisim.torch_version": "2.13",
            "unisim.mlflow_version": "3.17.2",
        }
        if not pipeline:
            tags[T.MLFLOW_PARENT_TAG] = parent
            tags[T.TAG_STAGE] = "fast"
        run = client.create_run(exp_id, start_time=start, tags=tags)
        rid = run.info.run_id
        parent = rid if pipeline else parent
        ts = start + 30_000
        if pipeline:
            nrmse = 0.05 + (i % 7) / 100
            metrics = [
                Metric(k, v, ts, 0)
                for k, v in (
                    ("final_nrmse", nrmse),
                    ("one_step_nrmse", nrmse / 3),
                    ("conservation_gap", 1e-3),
                    ("energy_violation", 0.0),
                    ("wall_clock_s", 30.0),
                )
            ]
            status_tags = [
                RunTag(T.TAG_GATES_PASSED, "true" if i % 3 else "false"),
                RunTag(T.TAG_STATUS, "success"),
            ]
        else:
            metrics = [
                Metric(k, 1.0 / (e + 1), ts, e)
                for e in range(20)
                for k in ("train/loss", "val/nrmse")
            ]
            status_tags = [RunTag(T.TAG_STATUS, "success")]
        client.log_batch(rid, metrics=metrics, params=params[:100], tags=status_tags)
        client.set_terminated(rid, "FINISHED", end_time=start + 50_000)
    return exp_id


def clone(db: Path, client, store, template_id: str, n_experiments: int, root: Path) -> list[str]:
    """Copy the template's rows into new experiments with fresh run ids (SQL, one pass)."""
    from unisim import tracking as T

    names = [f"2026-01-{2 + i // 50:02d}-exp{i:03d}" for i in range(n_experiments - 1)]
    ids = [
        T.get_or_create_experiment(client, n, store, {T.TAG_EXPERIMENT_DIR: f"experiments/{n}"})
        for n in names
    ]
    con = sqlite3.connect(db)
    runs = [
        r[0]
        for r in con.execute("SELECT run_uuid FROM runs WHERE experiment_id=?", (int(template_id),))
    ]
    con.execute("CREATE TEMP TABLE m (old TEXT PRIMARY KEY, new TEXT, exp INTEGER)")
    for exp in ids:
        new = {r: uuid.uuid4().hex for r in runs}
        con.executemany("INSERT INTO m VALUES (?,?,?)", [(o, n, int(exp)) for o, n in new.items()])
        cols = (
            "name, source_type, source_name, entry_point_name, user_id, status, start_time, "
            "end_time, source_version, lifecycle_stage, artifact_uri, deleted_time"
        )
        con.execute(
            f"INSERT INTO runs (run_uuid, experiment_id, {cols}) "
            f"SELECT m.new, m.exp, {cols} FROM runs JOIN m ON runs.run_uuid = m.old"
        )
        # Child runs point at their parent: map the parent tag too.
        con.execute(
            "INSERT INTO tags SELECT t.key, COALESCE(p.new, t.value), m.new FROM tags t "
            "JOIN m ON t.run_uuid = m.old LEFT JOIN m p ON t.key = 'mlflow.parentRunId' "
            "AND p.old = t.value"
        )
        con.execute(
            "INSERT INTO params SELECT p.key, p.value, m.new FROM params p "
            "JOIN m ON p.run_uuid = m.old"
        )
        con.execute(
            "INSERT INTO metrics SELECT x.key, x.value, x.timestamp, m.new, x.step, "
            "x.is_nan FROM metrics x JOIN m ON x.run_uuid = m.old"
        )
        con.execute(
            "INSERT INTO latest_metrics SELECT x.key, x.value, x.timestamp, x.step, "
            "x.is_nan, m.new FROM latest_metrics x JOIN m ON x.run_uuid = m.old"
        )
        con.execute("DELETE FROM m")
    con.commit()
    con.close()
    for name in ["2026-01-01-template", *names]:
        folder = root / "experiments" / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "config.yaml").write_text("name: bench\n")
        (folder / "notes.md").write_text(f"# {name}\n")
    return names


def timed(fn, repeat: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def cli(root: Path, store, *args: str) -> None:
    env = {**os.environ, "MLFLOW_TRACKING_URI": store.uri, "PYTHONPATH": str(REPO)}
    subprocess.run(
        [sys.executable, "-m", "unisim", *args],
        cwd=root,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--experiments", type=int, default=100)
    ap.add_argument("--runs", type=int, default=100, help="runs per experiment")
    ap.add_argument("--children", type=int, default=3, help="child runs per pipeline run")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--dir", help="work folder (default: a temp folder)")
    ap.add_argument(
        "--skip-baselines",
        action="store_true",
        help="time only unisim's commands (the baselines take minutes at full size)",
    )
    args = ap.parse_args(argv)
    root = Path(args.dir or tempfile.mkdtemp(prefix="unisim-lifecycle-bench-"))
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    os.chdir(root)

    import mlflow

    from unisim import tracking as T
    from unisim.experiments.status import list_experiments
    from unisim.reports.runs import list_runs

    db = root / "store" / "mlflow.db"
    store = T.TrackingTarget(f"sqlite:///{db}", (root / "store" / "artifacts").as_uri())
    client = T.configure(store)
    t = time.perf_counter()
    template = build_template(client, store, root, args.runs, args.children)
    t_api = time.perf_counter() - t
    t = time.perf_counter()
    names = clone(db, client, store, template, args.experiments, root)
    n_runs = sum(1 for _ in sqlite3.connect(db).execute("SELECT 1 FROM runs"))
    print(
        f"store: {args.experiments} experiments x {args.runs} runs = {n_runs} runs "
        f"({args.children} children per pipeline run) in {root}"
    )
    print(
        f"built: template via API {t_api:.1f} s, clones via SQL {time.perf_counter() - t:.1f} s\n"
    )

    rows = list_experiments(store, root=root)  # warm-up, and a sanity check
    pipelines = args.runs // (args.children + 1) + (args.runs % (args.children + 1) > 0)
    assert len(rows) == args.experiments and all(r.runs == pipelines for r in rows), rows[0]
    ids = [client.get_experiment_by_name(n).experiment_id for n in ["2026-01-01-template"]]
    ids += [client.get_experiment_by_name(n).experiment_id for n in names]
    pipeline_filter = f"tags.`{T.TAG_KIND}` = 'pipeline'"

    def client_pipelines():
        return T.connect(store).search_runs(ids, pipeline_filter)

    r = args.repeat
    plan = [
        ("experiments list (library, SQL read)", lambda: list_experiments(store, root=root), r),
        (
            "experiments list (CLI subprocess)",
            lambda: cli(root, store, "experiments", "list", "--json"),
            r,
        ),
        ("runs list EXP (library)", lambda: list_runs(store, names[0]), r),
        ("runs list, all experiments (library)", lambda: list_runs(store), r),
        ("runs list EXP (CLI subprocess)", lambda: cli(root, store, "runs", "list", names[0]), r),
        # the baselines (slow at full size)
        (
            "experiments list via MLflow API (fallback)",
            lambda: list_experiments(store, root=root, via="api"),
            1,
        ),
        ("MlflowClient.search_runs pipeline runs", client_pipelines, 1),
        (
            "mlflow.search_runs all runs -> pandas",
            lambda: mlflow.search_runs(ids, max_results=50_000),
            1,
        ),
    ]
    if args.skip_baselines:
        plan = plan[:5]
    results = [(what, *timed(fn, n)) for what, fn, n in plan]
    base = results[-1][1] if not args.skip_baselines else float("nan")
    print(f"{'what':<46} {'seconds':>9} {'x baseline':>11}  rows")
    for what, secs, out in results:
        size = len(out) if hasattr(out, "__len__") else "-"
        ratio = "-" if args.skip_baselines else f"{secs / base:.3f}"
        print(f"{what:<46} {secs:>9.3f} {ratio:>11}  {size}")
    if not args.skip_baselines:
        print(f"\nbaseline = mlflow.search_runs over the same {n_runs} runs ({base:.2f} s)")
    print("goal: experiments list <= 2 s (the CLI line includes starting Python)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
