"""Metric logging cost: unisim's batched MetricLogger vs per-call ``mlflow.log_metric``.

    python benchmarks/tracking_overhead.py [--points 5000] [--tracking-uri URI]

Both loggers write N points into runs of the same fresh SQLite store (or the
given server), in one process; a table shows both times and the ratio (goal:
>= 20x). Also times ``unisim --help`` against ``mlflow --help`` (goal: <= 0.25x).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def time_cli(args: list[str], repeats: int = 3) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(args, capture_output=True, check=True)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=5000)
    parser.add_argument("--tracking-uri", default=None)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="unisim-bench-") as tmp:  # removed at the end
        measure(args, Path(tmp))


def measure(args: argparse.Namespace, tmp: Path) -> None:
    import mlflow

    from unisim.tracking import MetricLogger, TrackingTarget, configure, get_or_create_experiment

    uri = args.tracking_uri or f"sqlite:///{tmp / 'mlflow.db'}"
    target = TrackingTarget(uri=uri, artifact_root=(tmp / "artifacts").as_uri())
    client = configure(target)
    exp = get_or_create_experiment(client, "bench-tracking", target)
    n = args.points

    with mlflow.start_run(experiment_id=exp, run_name="per-call"):
        start = time.perf_counter()
        for i in range(n):
            mlflow.log_metric("loss", float(i), step=i, synchronous=True)
        per_call = time.perf_counter() - start

    run = client.create_run(exp, run_name="metric-logger")
    logger = MetricLogger(client, run.info.run_id)
    start = time.perf_counter()
    for i in range(n):
        logger.log({"loss": float(i)}, step=i)
        if (i + 1) % 500 == 0:  # an "epoch end" every 500 points
            logger.flush()
    logger.flush()
    batched = time.perf_counter() - start
    client.set_terminated(run.info.run_id)
    assert len(client.get_metric_history(run.info.run_id, "loss")) == n

    unisim_help = time_cli([sys.executable, "-m", "unisim", "--help"])
    mlflow_help = time_cli([sys.executable, "-m", "mlflow", "--help"])

    print(f"store: {uri}" + ("" if args.tracking_uri else " (a temp store, removed afterwards)"))
    print("| measure | unisim | reference | ratio |")
    print("|---|---|---|---|")
    print(
        f"| {n} metric points (s) | {batched:.2f} (MetricLogger) | "
        f"{per_call:.2f} (mlflow.log_metric) | {per_call / batched:.1f}x faster |"
    )
    print(
        f"| CLI --help (s) | {unisim_help:.2f} (unisim) | {mlflow_help:.2f} (mlflow) | "
        f"{unisim_help / mlflow_help:.2f}x |"
    )


if __name__ == "__main__":
    main()
