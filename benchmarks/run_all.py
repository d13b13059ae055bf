"""Run every benchmark script and write one table of the latest figures: benchmarks/RESULTS.md.

    .venv/bin/python benchmarks/run_all.py                     # all of them (make bench): long
    .venv/bin/python benchmarks/run_all.py --quick             # small sizes -> RESULTS-quick.md
    .venv/bin/python benchmarks/run_all.py --only solver --only tracking_overhead
    .venv/bin/python benchmarks/run_all.py --only accuracy --args "accuracy=--trials 8"
    .venv/bin/python benchmarks/run_all.py --list              # the scripts and their arguments

Every ``benchmarks/*.py`` except this one runs as a subprocess (``python NAME.py
ARGS``) in a temp folder, with no tracking settings inherited (a benchmark never
writes into a team server), its output streamed to the terminal and kept. A
script that fails or passes ``--timeout`` (SIGINT, then SIGKILL 30 s later) gets
a failed row and the others still run. ``--quick`` passes each script's
small-size options (``QUICK_ARGS``; an unknown script gets ``--quick`` when its
``--help`` offers it). ``server_load`` measures PostgreSQL and SQLite; with no
PostgreSQL on 127.0.0.1:5432 it runs SQLite only and says so.

The results file (written atomically) holds the machine (CPU model, cores,
memory, load, Python/torch/mlflow/numpy versions, commit, date), a headline
table parsed from the outputs (``HEADLINES``), a table of runs, and each
script's output. Its records are also embedded as JSON at the end, so a later
``--only NAME`` refreshes that script's figures and keeps the others. Exit code:
0 when every script that ran succeeded, 1 otherwise, 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

from unisim.fsutil import atomic_write_text  # noqa: E402

# Known scripts first, in this order; any other benchmarks/*.py follows alphabetically.
ORDER = (
    "solver",
    "tracking_overhead",
    "train_throughput",
    "lifecycle_scale",
    "read_commands",
    "server_load",
    "sweep",
    "accuracy",
    "golden",
    "golden_vs_fno",
    "advection_vs_fno",
    "suite",
)
QUICK_ARGS: dict[str, list[str]] = {
    "solver": ["--quick"],
    "tracking_overhead": ["--points", "500"],
    "train_throughput": ["--nx", "32", "--n-train", "8", "--batch-size", "8", "--epochs", "1"],
    "lifecycle_scale": ["--experiments", "5", "--runs", "8", "--repeat", "1"],
    "read_commands": ["--quick"],
    "server_load": ["--runs", "2", "--epochs", "5", "--backends", "sqlite"],
    "sweep": ["--quick"],
    "accuracy": ["--quick"],
    "golden": ["--quick"],
    "golden_vs_fno": ["--quick"],
    "advection_vs_fno": ["--quick"],
    "suite": ["--quick"],
}
DATA_MARK = "run_all-records"
KILL_GRACE_S = 30
OUTPUT_LINES = 200  # kept per script in the results file

Fmt = str | Callable[[re.Match], str]
# name -> (measure, regex on stdout, value format over the groups, goal); a measure may use
# the groups too ("{0}"). Every match of a regex gives a row (server_load: one per backend).
HEADLINES: dict[str, list[tuple[str, str, Fmt, str]]] = {
    "solver": [
        ("ETDRK4 solver vs FD2 + BDF reference, trajectories/s",
         r"speedup ([\d.]+)x at (\d+)x smaller max error",
         "{0}x faster at {1}x smaller max error", ">= 20x at equal or better error"),
        ("golden dataset generation (solver + HDF5)",
         r"golden data \([^)]*\): (\d+) trajectories in ([\d.]+) s(?:; full (\d+): ~(\d+) s)?",
         lambda m: (f"~{m[4]} s for {m[3]} trajectories (scaled from {m[1]} in {m[2]} s)"
                    if m[3] else f"{m[2]} s for {m[1]} trajectories"),
         "< 120 s on 2 cores"),
    ],
    "tracking_overhead": [
        ("metric logging: MetricLogger vs mlflow.log_metric",
         r"\| (\d+) metric points \(s\) \| ([\d.]+) \(MetricLogger\) \| ([\d.]+) "
         r"\(mlflow\.log_metric\) \| ([\d.]+)x faster",
         "{3}x faster ({1} s vs {2} s for {0} points)", ">= 20x"),
        ("`unisim --help` vs `mlflow --help`",
         r"\| CLI --help \(s\) \| ([\d.]+) \(unisim\) \| ([\d.]+) \(mlflow\) \| ([\d.]+)x",
         "{2}x ({0} s vs {1} s)", "<= 0.25x"),
    ],
    "train_throughput": [
        ("Trainer vs bare PyTorch loop, samples/s", r"^ratio\s+([\d.]+)", "{0}", ">= 0.95"),
        ("MLflow logging share of epoch time",
         r"MLflow logging (\d+) ms over (\d+) epochs of ([\d.]+) s: ([\d.]+%)",
         "{3} ({0} ms over {1} epochs)", "<= 3%"),
    ],
    "lifecycle_scale": [
        ("store", r"store: (\d+) experiments x (\d+) runs = (\d+) runs", "{2} runs", ""),
        ("`experiments list`, library (one SQL read)",
         r"^experiments list \(library, SQL read\)\s+([\d.]+)\s+(\S+)",
         "{0} s ({1} x mlflow.search_runs)", "<= 2 s"),
        ("`unisim experiments list`, CLI process",
         r"^experiments list \(CLI subprocess\)\s+([\d.]+)", "{0} s", "<= 2 s"),
        ("`unisim runs list EXP`, CLI process",
         r"^runs list EXP \(CLI subprocess\)\s+([\d.]+)", "{0} s", ""),
    ],
    "read_commands": [
        ("every read command (runs, registry, leaderboard) <= 1 s",
         r"every read command <= 1 s on (\d+) runs: (PASS|FAIL) \(slowest: (.+?) ([\d.]+) s wall, "
         r"([\d.]+) s CPU; experiments list ([\d.]+) s\)",
         "{1} on {0} runs: slowest {2} {3} s ({4} s CPU); experiments list {5} s", "<= 1 s"),
    ],
    "server_load": [
        ("team server on {0}: sustained metric points/s",
         r"^(postgres|sqlite)\s+(\d+)\s+([\d.]+)\s+(\d+)\s+([\d.]+)\s+([\d.]+)",
         "{3} points/s (flush p50 {4} ms, p95 {5} ms)", ""),
        ("team server: every point stored",
         r"^(all runs FINISHED, every point present|incomplete: .*)$", "{0}", "all present"),
    ],
    "sweep": [
        ("sweep: {0}-pruned vs unpruned wall time, same trials",
         r"pruned \((\w+)\) vs unpruned sweep wall time: ([\d.]+)x", "{1}x", "<= 0.5x"),
        ("sweep: best val nRMSE, {0}-pruned vs unpruned",
         r"best val nRMSE pruned \((\w+)\) vs unpruned: ([-+\d.]+%) \(([^;]+);", "{1} ({2})",
         "within 5%"),
        ("sweep: two local workers vs one, fixed trials",
         r"two workers vs one, (\d+) trials: ([\d.]+)x", "{1}x ({0} trials)", "<= 0.6x"),
    ],
    "accuracy": [
        ("{0} / {1} rollout nRMSE on {2} (tuned alike, equal fit time)",
         r"ratio (\w+) / (\w+) on (\w+): ([\d.]+) \[([\d.]+), ([\d.]+)\] .*: (met|NOT met)\)",
         "{3} [{4}, {5}]: {6}", "<= 0.7, upper end < 1.0"),
        ("{0}: params, test / held-out rollout nRMSE [95% interval]",
         r"^  (latent|fno|neuralop_fno)\s+([\d,]+)\s+([\d.]+ \[[\d., ]+\])\s+"
         r"([\d.]+ \[[\d., ]+\])",
         "{1}: {2} / {3}", ""),
    ],
    "golden": [
        ("{0} / {1} Burgers config, test rollout nRMSE (same machine, data, seeds)",
         r"ratio (\w+) / ([\w-]+) on test: ([\d.]+) \[([\d.]+), ([\d.]+)\] \(([^)]+)\)",
         "{2} [{3}, {4}]: {5}", "< 1 (beats the reference)"),
        ("{0}: test rollout nRMSE [95% interval] (per-seed means)",
         r"^  ([a-z][\w-]*)\s+([\d.]+ \[[\d., ]+\])\s+([\d.]+(?:, [\d.]+)*)"
         r"(?:\s+\S+\s+\S+\s+\S+  (\S[^\n]*))?",  # then val, train s, wall s, epochs
         lambda m: f"{m[2]} ({m[3]})" + (f"; epochs {m[4]}" if m[4] else ""), ""),
    ],
    "suite": [
        ("{0} ({1}), {2}: test rollout nRMSE, ratio to persistence / FNO, wall time",
         r"^\| (\w+) \| ([^|]+) \| (\w+) \| ([\d.e-]+) \| ([^|]+) \| ([^|]+) \| ([\d.]+) \|",
         "{3}, {4} / {5}, {6} s", "ratios < 1; <= 600 s"),
        ("{0} ({1}), {2}: held-out coefficients, rollout nRMSE told the true / nearest "
         "training coefficient",
         r"^\| (\w+) \| ([^|]+) \| (\w+) \|(?: [^|]+ \|){5} ([\d.e-]+) / ([\d.e-]+) \|",
         lambda m: f"{m[4]} / {m[5]}: " + ("met" if float(m[4]) < float(m[5]) else "NOT met"),
         "true < nearest"),
    ],
}  # fmt: skip
HEADLINES["golden_vs_fno"] = HEADLINES["golden"]  # golden.py with the tuned FNO as reference
HEADLINES["advection_vs_fno"] = [  # golden.py on the advection golden and its tuned FNO
    (measure.replace("Burgers", "advection"), *rest) for measure, *rest in HEADLINES["golden"]
]
_FALLBACK = re.compile(r"goal|ratio|speedup|x faster|\bvs\b", re.IGNORECASE)


# ---------------------------------------------------------------- machine


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def machine() -> dict[str, str]:
    """What the figures were measured on."""
    cpu = re.search(r"^model name\s*:\s*(.+)$", _read("/proc/cpuinfo"), re.MULTILINE)
    mem = re.search(r"^MemTotal:\s*(\d+) kB", _read("/proc/meminfo"), re.MULTILINE)
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    versions = []
    for pkg in ("torch", "mlflow", "numpy"):
        try:
            versions.append(f"{pkg} {version(pkg)}")
        except PackageNotFoundError:
            versions.append(f"{pkg} -")
    commit = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return {
        "cpu": cpu[1].strip() if cpu else (platform.processor() or platform.machine()),
        "cores": f"{usable} usable ({os.cpu_count()} logical)",
        "memory": f"{int(mem[1]) / 2**20:.1f} GiB" if mem else "-",
        "os": f"{platform.system()} {platform.release()}",
        "load": " / ".join(f"{x:.1f}" for x in load) + " (1 / 5 / 15 min, at start)",
        "python": platform.python_version(),
        "packages": ", ".join(versions),
        "commit": (commit or "-") + (" (uncommitted changes)" if dirty else ""),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


# ---------------------------------------------------------------- running


def discover(bench_dir: Path) -> list[str]:
    names = {p.stem for p in bench_dir.glob("*.py") if p.stem != "run_all" and p.stem[0] != "_"}
    return [n for n in ORDER if n in names] + sorted(names - set(ORDER))


def _postgres_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


def arguments(
    name: str, script: Path, quick: bool, extra: dict[str, list[str]] | None = None
) -> tuple[list[str], str]:
    """The script's arguments for this mode (then any ``--args NAME=...``), and a note."""
    args, note = [], ""
    if name in (extra or {}):
        args = list(extra[name])
    elif quick:
        if name in QUICK_ARGS:
            args = list(QUICK_ARGS[name])
        else:
            probe = subprocess.run(
                [sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=120
            )
            args = ["--quick"] if "--quick" in probe.stdout else []
    if name == "server_load" and "--backends" not in args and not _postgres_up():
        args += ["--backends", "sqlite"]
        note = "no PostgreSQL on 127.0.0.1:5432: SQLite only"
    return args, note


def run_script(script: Path, args: list[str], timeout_s: float) -> dict:
    """Run one benchmark; stream and keep its stdout, keep the tail of its stderr."""
    env = {
        k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "UNISIM_PROFILE")
    }
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env["PYTHONUNBUFFERED"] = "1"
    work = Path(tempfile.mkdtemp(prefix=f"unisim-bench-{script.stem}-"))
    started = datetime.now(timezone.utc)
    t0 = time.perf_counter()
    timed_out = threading.Event()
    with open(work / "stderr.txt", "w+") as err:
        proc = subprocess.Popen(
            [sys.executable, str(script), *args],
            cwd=work,
            env=env,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
            start_new_session=True,  # its own process group: a timeout stops its children too
        )

        def stop() -> None:
            timed_out.set()
            for sig, wait in ((signal.SIGINT, KILL_GRACE_S), (signal.SIGKILL, 0)):
                try:
                    os.killpg(proc.pid, sig)  # SIGINT first: its finally blocks stop servers
                except ProcessLookupError:
                    return
                try:
                    proc.wait(wait)
                    return
                except subprocess.TimeoutExpired:
                    continue

        timer = threading.Timer(timeout_s, stop)
        timer.start()
        lines = []
        assert proc.stdout is not None
        try:
            for line in proc.stdout:
                print(f"  | {line}", end="", flush=True)
                lines.append(line)
            code = proc.wait()
        except KeyboardInterrupt:  # Ctrl-C reaches only us (own session): pass it on
            timer.cancel()
            stop()
            raise
        timer.cancel()
        err.seek(0)
        stderr = err.read().splitlines()
    shutil.rmtree(work, ignore_errors=True)
    status = "timeout" if timed_out.is_set() else ("ok" if code == 0 else "failed")
    return {
        "name": script.stem,
        "args": args,
        "status": status,
        "returncode": code,
        "seconds": round(time.perf_counter() - t0, 1),
        "started": started.strftime("%Y-%m-%d %H:%M UTC"),
        "output": "".join(lines[-OUTPUT_LINES:]),
        "stderr_tail": "\n".join(stderr[-15:]) if status != "ok" else "",
    }


# ---------------------------------------------------------------- results file


def headlines(name: str, output: str) -> list[tuple[str, str, str]]:
    """(measure, value, goal) rows parsed from one script's output."""
    rows = []
    for measure, pattern, fmt, goal in HEADLINES.get(name, []):
        for m in re.finditer(pattern, output, re.MULTILINE):
            groups = m.groups()
            value = fmt(m) if callable(fmt) else fmt.format(*groups)
            rows.append((measure.format(*groups), value, goal))
    if not rows:  # an unknown script (or a changed format): its lines that state results
        for line in output.splitlines():
            if _FALLBACK.search(line) and len(rows) < 6:
                rows.append(("", line.strip().strip("|").strip(), ""))
    return rows


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _fence(text: str) -> str:
    fence = "````" if "```" in text else "```"
    return f"{fence}text\n{text.rstrip()}\n{fence}"


def render(records: dict[str, dict], mach: dict[str, str], mode: str) -> str:
    out = [
        "# Benchmark results"
        + (" (quick: small sizes, smoke test only)" if mode == "quick" else ""),
        "",
        "Latest figures of every script in `benchmarks/`, written by `benchmarks/run_all.py`",
        "(`make bench`); regenerate rather than edit. What each script measures and how to run",
        "it alone: [README.md](README.md).",
        "",
        "## Machine",
        "",
        "| | |",
        "|---|---|",
        *(f"| {k} | {_cell(v)} |" for k, v in mach.items()),
        "",
        "## Headline figures",
        "",
        "| benchmark | measure | value | goal |",
        "|---|---|---|---|",
    ]
    for name, rec in records.items():
        rows = headlines(name, rec["output"]) if rec["status"] == "ok" else []
        if not rows:
            rows = [("", f"{rec['status']}: see the output below", "")]
        out += [f"| {name} | {_cell(m)} | {_cell(v)} | {_cell(g)} |" for m, v, g in rows]
    machines = {json.dumps(r.get("machine", {}).get("cpu")) for r in records.values()}
    out += ["", "## Runs", "", "| benchmark | status | wall time | date | arguments | note |"]
    out += ["|---|---|---|---|---|---|"]
    for name, rec in records.items():
        note = rec.get("note", "")
        if len(machines) > 1:
            note = f"{note}; on {rec['machine']['cpu']}, {rec['machine']['cores']}".strip("; ")
        args = " ".join(rec["args"]) or "(defaults)"
        out.append(
            f"| {name} | {rec['status']} | {rec['seconds']:.0f} s | {rec['started']} | "
            f"`{_cell(args)}` | {_cell(note)} |"
        )
    out += ["", "## Output"]
    for name, rec in records.items():
        out += ["", f"### {name}", "", _fence(rec["output"] or "(no output)")]
        if rec.get("stderr_tail"):
            out += ["", "stderr (last lines):", "", _fence(rec["stderr_tail"])]
    # Machine-readable records for the next --only run; '>' escaped so '-->' cannot occur.
    blob = json.dumps({"mode": mode, "records": records}, indent=1).replace(">", "\\u003e")
    out += ["", f"<!-- {DATA_MARK}", blob, "-->", ""]
    return "\n".join(out)


def load_records(path: Path, mode: str) -> dict[str, dict]:
    """Records embedded in an earlier results file of the same mode (else none)."""
    text = path.read_text() if path.is_file() else ""
    found = re.search(rf"<!-- {DATA_MARK}\n(.*)\n-->", text, re.DOTALL)
    if not found:
        return {}
    try:
        data = json.loads(found[1])
    except ValueError:
        return {}
    return data.get("records", {}) if data.get("mode") == mode else {}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (a smoke test)")
    ap.add_argument("--only", action="append", metavar="NAME", help="run only NAME (repeatable)")
    ap.add_argument("--out", help="results file (default RESULTS.md, RESULTS-quick.md w/ --quick)")
    ap.add_argument("--timeout", type=float, default=3600.0, help="seconds per script")
    ap.add_argument("--dir", default=str(HERE), help="folder of the benchmark scripts")
    ap.add_argument("--list", action="store_true", help="list the scripts and their arguments")
    ap.add_argument(
        "--args",
        action="append",
        default=[],
        metavar="NAME=ARGS",
        help="run NAME with these arguments instead of its defaults (shown in the results)",
    )
    args = ap.parse_args(argv)
    extra: dict[str, list[str]] = {}
    for item in args.args:
        name, sep, rest = item.partition("=")
        if not sep or not name:
            print(f"error: --args {item!r}: expected NAME=ARGS", file=sys.stderr)
            return 2
        extra[name] = shlex.split(rest)
    bench_dir = Path(args.dir)
    names = discover(bench_dir)
    unknown = sorted((set(args.only or []) | set(extra)) - set(names))
    if unknown:
        print(
            f"error: --only/--args {', '.join(unknown)}: no such script in {bench_dir}",
            file=sys.stderr,
        )
        return 2
    mode = "quick" if args.quick else "full"
    selected = [n for n in names if not args.only or n in args.only]
    if args.list:
        for name in names:
            script_args, note = arguments(name, bench_dir / f"{name}.py", args.quick, extra)
            print(f"{name:20} {' '.join(script_args) or '(defaults)'}  {note}".rstrip())
        return 0
    missing = [n for n in ORDER if n not in names]
    if missing and not args.only:
        print(f"not present (skipped): {', '.join(missing)}")
    out = Path(args.out or bench_dir / ("RESULTS-quick.md" if args.quick else "RESULTS.md"))
    records = load_records(out, mode)
    mach = machine()
    failed = []
    for name in selected:
        script = bench_dir / f"{name}.py"
        script_args, note = arguments(name, script, args.quick, extra)
        print(f"\n== {name} {' '.join(script_args)}".rstrip(), flush=True)
        rec = run_script(script, script_args, args.timeout)
        rec.update(note=note, machine=mach)
        print(f"== {name}: {rec['status']} in {rec['seconds']:.0f} s", flush=True)
        if rec["stderr_tail"]:
            print(rec["stderr_tail"], file=sys.stderr)
        # merged into what the file holds now: a concurrent `--only OTHER` keeps its figures
        records = {**records, **load_records(out, mode), name: rec}
        if rec["status"] != "ok":
            failed.append(name)
        # rewritten after each script: an interrupted `make bench` keeps what it measured
        ordered = {n: records[n] for n in [*names, *sorted(records)] if n in records}
        atomic_write_text(out, render(ordered, mach, mode))
    print(f"\nwrote {out}" + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
