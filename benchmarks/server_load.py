"""Load on the team server: N concurrent tiny training runs, PostgreSQL vs SQLite backend.

    python benchmarks/server_load.py                           # 8 runs x 100 epochs, both backends
    python benchmarks/server_load.py --runs 8 --epochs 20 --backends sqlite
    python benchmarks/server_load.py --workers-probe           # request latency, 1 vs 4 workers

Each backend gets a fresh store (a throwaway PostgreSQL database on
127.0.0.1:5432, or a SQLite file) behind its own ``mlflow server`` started with
``unisim.server.start_server``. N processes then run ``start_run`` like a
training job and log per-epoch metrics through the MetricLogger, flushing at
every epoch end (one ``log_batch`` request). Afterwards every point of every
run must be on the server (else exit 1). Printed per backend: sustained metric
points/s (all points / wall time of the logging phase) and p50/p95 latency of
the flush requests. ``--workers-probe`` measures one client's request latency
on a kept-alive connection against 1 and 4 uvicorn workers.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import secrets
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
KEYS = ("train/loss", "val/nrmse", "lr", "grad_norm")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pg_database(name: str, drop: bool = False) -> str:
    import psycopg

    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        if drop:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        else:
            conn.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}"


def start(backend_uri: str, tmp: Path, workers: int):
    from unisim.server import ServerSettings, start_server

    settings = ServerSettings(
        profile="bench",
        backend_store_uri=backend_uri,
        artifacts_destination=str(tmp / "artifacts"),
        port=free_port(),
        workers=workers,
        state_dir=str(tmp / f"state-{workers}"),
    )
    t0 = time.perf_counter()
    state = start_server(settings)
    print(f"  server {state.uri} ({workers} worker(s)) up in {time.perf_counter() - t0:.0f} s")
    return settings, state


def train_worker(uri: str, index: int, epochs: int, epoch_s: float, barrier, out) -> None:
    """One tiny 'training run': per-epoch metrics, a flush (one request) per epoch."""
    os.environ["MLFLOW_TRACKING_URI"] = uri
    from unisim.tracking import TrackingTarget, start_run

    latencies = []
    with start_run(kind="train", experiment="server-load", target=TrackingTarget(uri)) as run:
        barrier.wait()
        t0 = time.perf_counter()
        for epoch in range(epochs):
            if epoch_s:
                time.sleep(epoch_s)  # stands in for the epoch's compute
            run.metrics.log({k: 1.0 / (epoch + 1) + i for i, k in enumerate(KEYS)}, step=epoch)
            t = time.perf_counter()
            ok = run.metrics.flush()
            latencies.append(time.perf_counter() - t)
            if not ok:
                out.put((index, run.run_id, None, None, "flush failed"))
        elapsed = time.perf_counter() - t0
    out.put((index, run.run_id, latencies, (t0, t0 + elapsed), None))


def load_test(name: str, uri: str, tmp: Path, args: argparse.Namespace) -> dict:
    settings, state = start(uri, tmp, args.workers)
    from unisim.server import stop_server

    try:
        ctx = mp.get_context("spawn")
        barrier, out = ctx.Barrier(args.runs), ctx.Queue()
        procs = [
            ctx.Process(
                target=train_worker, args=(state.uri, i, args.epochs, args.epoch_s, barrier, out)
            )
            for i in range(args.runs)
        ]
        for p in procs:
            p.start()
        results = [out.get(timeout=1800) for _ in procs]
        for p in procs:
            p.join()
        errors = [r for r in results if r[4]]
        lat = sorted(x for r in results if r[2] for x in r[2])
        begin = min(r[3][0] for r in results if r[3])
        end = max(r[3][1] for r in results if r[3])
        points = args.runs * args.epochs * len(KEYS)

        from mlflow import MlflowClient

        client = MlflowClient(tracking_uri=state.uri)
        missing = 0
        for r in results:
            for key in KEYS:
                got = {m.step for m in client.get_metric_history(r[1], key)}
                missing += args.epochs - len(got)
            if client.get_run(r[1]).info.status != "FINISHED":
                missing += 1
        return {
            "backend": name,
            "points": points,
            "wall_s": end - begin,
            "points_per_s": points / (end - begin),
            "p50_ms": 1000 * statistics.median(lat),
            "p95_ms": 1000 * lat[int(0.95 * (len(lat) - 1))],
            "missing": missing,
            "errors": len(errors),
        }
    finally:
        stop_server(settings.state_path)


def _probe(label: str, call, n: int) -> str:
    for _ in range(10):
        call().raise_for_status()  # warm-up
    lat = []
    for _ in range(n):
        t = time.perf_counter()
        call().raise_for_status()
        lat.append(1000 * (time.perf_counter() - t))
    lat.sort()
    return f"{label}: median {statistics.median(lat):.1f} ms, p95 {lat[int(0.95 * (n - 1))]:.1f} ms"


def workers_probe(tmp: Path, backend_uri: str, requests_n: int = 200) -> None:
    """Latency of one client on one kept-alive connection: GET and a small log_batch."""
    import requests

    from unisim.server import stop_server

    for workers in (1, 4):
        settings, state = start(backend_uri, tmp, workers)
        try:
            session = requests.Session()
            api = f"{state.uri}/api/2.0/mlflow"
            exp = session.post(f"{api}/experiments/create", json={"name": f"probe-{workers}"})
            exp_id = exp.json()["experiment_id"]
            run = session.post(f"{api}/runs/create", json={"experiment_id": exp_id}).json()
            batch = {
                "run_id": run["run"]["info"]["run_id"],
                "metrics": [
                    {"key": f"m{j}", "value": 1.0, "timestamp": 0, "step": 0} for j in range(10)
                ],
            }

            def get(session=session, api=api, exp_id=exp_id):
                return session.get(f"{api}/experiments/get", params={"experiment_id": exp_id})

            def post(session=session, api=api, batch=batch):
                batch["metrics"][0]["timestamp"] += 1  # a new point each time
                return session.post(f"{api}/runs/log-batch", json=batch)

            print(f"  workers={workers} " + _probe("GET experiments/get", get, requests_n))
            print(f"  workers={workers} " + _probe("POST log-batch (10 metrics)", post, requests_n))
        finally:
            stop_server(settings.state_path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--epoch-s", type=float, default=0.0, help="simulated compute per epoch")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers of the server")
    parser.add_argument("--backends", default="postgres,sqlite")
    parser.add_argument("--workers-probe", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

    tmp = Path(tempfile.mkdtemp(prefix="unisim-server-load-"))
    os.environ["UNISIM_JOURNAL_DIR"] = str(tmp / "journal")
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    rows = []
    for backend in backends:
        db = f"unisim_bench_{secrets.token_hex(4)}"
        uri = pg_database(db) if backend == "postgres" else f"sqlite:///{tmp / 'mlflow.db'}"
        print(f"{backend}:")
        try:
            if args.workers_probe:
                workers_probe(tmp, uri)
            else:
                rows.append(load_test(backend, uri, tmp, args))
        finally:
            if backend == "postgres":
                pg_database(db, drop=True)
    if rows:
        print(f"\n{args.runs} runs x {args.epochs} epochs x {len(KEYS)} metrics, flush per epoch")
        head = ("backend", "points", "wall s", "points/s", "p50 ms", "p95 ms")
        print(f"{head[0]:<10} " + " ".join(f"{h:>9}" for h in head[1:]))
        for r in rows:
            cells = (r["points"], f"{r['wall_s']:.1f}", f"{r['points_per_s']:.0f}")
            cells += (f"{r['p50_ms']:.1f}", f"{r['p95_ms']:.1f}")
            missing = f"  MISSING {r['missing']}" if r["missing"] else ""
            print(f"{r['backend']:<10} " + " ".join(f"{c:>9}" for c in cells) + missing)
    bad = [r["backend"] for r in rows if r["missing"] or r["errors"]]
    if rows:
        print(f"incomplete: {', '.join(bad)}" if bad else "all runs FINISHED, every point present")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
