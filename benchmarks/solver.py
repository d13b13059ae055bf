"""Burgers solver benchmark: ETDRK4 pseudo-spectral vs a finite-difference method of lines.

    .venv/bin/python benchmarks/solver.py            # full: 32 spectral / 8 reference trajectories
    .venv/bin/python benchmarks/solver.py --quick    # a smaller run (~1 minute on 2 busy cores)
    .venv/bin/python benchmarks/solver.py --json out.json

What it measures, at 1024 points, nu=0.01 (diffusion nu/pi), t in [0, 2], 41 stored times:

1. Accuracy against the exact Cole-Hopf solution for ``u0 = c + A sin(2 pi x)`` over a
   spread of means c and amplitudes A (relative L2 over space and every 4th stored time).
2. Throughput (trajectories per second) of ``unisim.data.solver.solve_burgers`` on the
   whole batch, and of the reference: second-order central differences in conservative
   form + ``scipy.integrate.solve_ivp`` (BDF with the exact sparse Jacobian, the fastest
   of RK45/RK23/DOP853/BDF/Radau/LSODA on this stiff problem). The reference is tuned
   first: the loosest ``rtol`` whose error is within 5% of its error floor on this grid
   (the floor is its spatial error; tighter tolerances only cost time).
3. The wall time to generate the golden dataset (nu=0.01, 1024 solver points stored at
   128, 41 times, 256+32+64 trajectories) through ``unisim.data.ensure_data``, HDF5
   file included. ``--quick`` generates 1/8 of it and prints the scaled estimate too.

Every timing is the best of ``--repeat`` runs (spectral and reference interleaved, so a
load change hits both), in wall time and in CPU time of this process, with the spread
(slowest / fastest) printed beside it: one timing on a shared machine is not a figure.
The headline ratio is the best-of-N wall-time ratio; the CPU-time ratio is printed too.

Goal: spectral >= 20x the reference's trajectories/s at equal or better error; golden
data well under 2 minutes on 2 cores. The load average at start is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from unisim.config import DataConfig  # noqa: E402
from unisim.data.exact import cole_hopf  # noqa: E402
from unisim.data.solver import solve_burgers  # noqa: E402

N, NU, T_FINAL, NT = 1024, 0.01, 2.0, 41
EVERY = 4  # compare with the exact solution at every 4th stored time (quadrature is slow)


def cases(count: int) -> list[tuple[float, float]]:
    """(mean, amplitude) pairs: means in [-0.8, 0.8], amplitudes in [0.6, 1.4]."""
    means = np.linspace(-0.8, 0.8, count)
    amps = np.linspace(0.6, 1.4, count)[np.random.default_rng(0).permutation(count)]
    return list(zip(means.tolist(), amps.tolist(), strict=True))


def rel_l2(u: np.ndarray, ref: np.ndarray) -> float:
    return float(np.linalg.norm(u - ref) / np.linalg.norm(ref))


# ---------------------------------------------------------------- reference solver


def reference_solve(u0: np.ndarray, t: np.ndarray, rtol: float) -> np.ndarray:
    """2nd-order central FD (flux form) + BDF with the exact periodic-tridiagonal Jacobian."""
    from scipy.integrate import solve_ivp
    from scipy.sparse import csr_matrix

    n = u0.size
    dx, eps = 1.0 / n, NU / np.pi
    i = np.arange(n)
    rows = np.concatenate([i, i, i])
    cols = np.concatenate([i, (i + 1) % n, (i - 1) % n])

    def rhs(_t: float, u: np.ndarray) -> np.ndarray:
        up, um = np.roll(u, -1), np.roll(u, 1)
        return -(up * up - um * um) / (4 * dx) + eps * (up - 2 * u + um) / dx**2

    def jac(_t: float, u: np.ndarray) -> csr_matrix:
        diag = np.full(n, -2 * eps / dx**2)
        upper = -np.roll(u, -1) / (2 * dx) + eps / dx**2  # d rhs_i / d u_{i+1}
        lower = np.roll(u, 1) / (2 * dx) + eps / dx**2  # d rhs_i / d u_{i-1}
        return csr_matrix((np.concatenate([diag, upper, lower]), (rows, cols)), shape=(n, n))

    sol = solve_ivp(
        rhs, (0.0, t[-1]), u0, method="BDF", t_eval=t, rtol=rtol, atol=rtol * 1e-2, jac=jac
    )
    if not sol.success:
        raise RuntimeError(f"reference solver failed: {sol.message}")
    return sol.y.T  # (nt, n)


def tune_reference(u0, t, exact) -> tuple[float, list[dict]]:
    """Loosest rtol whose error is within 5% of the floor (the tightest tolerance's error)."""
    trials = []
    for rtol in (1e-3, 1e-4, 1e-5, 1e-6):
        start = time.perf_counter()
        u = reference_solve(u0, t, rtol)
        trials.append(
            {"rtol": rtol, "error": rel_l2(u[::EVERY], exact), "s": time.perf_counter() - start}
        )
    floor = trials[-1]["error"]
    chosen = next(tr["rtol"] for tr in trials if tr["error"] <= 1.05 * floor)
    return chosen, trials


# ---------------------------------------------------------------- benchmark


def timed(fn, repeat: int) -> tuple[dict, object]:
    """Run ``fn`` ``repeat`` times: best and worst wall and CPU seconds, the last result."""
    walls, cpus, out = [], [], None
    for _ in range(repeat):
        w, c = time.perf_counter(), time.process_time()
        out = fn()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    return {"best_s": min(walls), "worst_s": max(walls), "best_cpu_s": min(cpus)}, out


def bench_solvers(n_spectral: int, n_reference: int, repeat: int = 1) -> dict:
    x = (np.arange(N) + 0.5) / N
    t = np.linspace(0.0, T_FINAL, NT)
    pairs = cases(n_spectral)
    u0 = np.stack([c + a * np.sin(2 * np.pi * x) for c, a in pairs])
    exact = [cole_hopf(x, t[::EVERY], NU, mean=c, amplitude=a) for c, a in pairs]

    rtol, trials = tune_reference(u0[0], t, exact[0])
    picked = np.linspace(0, len(pairs) - 1, n_reference).round().astype(int)
    spec_times, ref_times = [], []
    for _ in range(repeat):  # interleaved: a load change during the run hits both
        st, u = timed(lambda: solve_burgers(u0, NU, t), 1)
        rt, ref = timed(lambda: [reference_solve(u0[i], t, rtol) for i in picked], 1)
        spec_times.append(st)
        ref_times.append(rt)
    spectral_s = min(x["best_s"] for x in spec_times)
    reference_s = min(x["best_s"] for x in ref_times)
    spectral_cpu = min(x["best_cpu_s"] for x in spec_times)
    reference_cpu = min(x["best_cpu_s"] for x in ref_times)
    spectral_err = [rel_l2(u[i, ::EVERY], exact[i]) for i in range(len(pairs))]
    reference_err = [rel_l2(r[::EVERY], exact[i]) for r, i in zip(ref, picked, strict=True)]

    spectral_rate = len(pairs) / spectral_s
    reference_rate = len(picked) / reference_s
    ratios = [
        (len(pairs) / a["best_s"]) / (len(picked) / b["best_s"])
        for a, b in zip(spec_times, ref_times, strict=True)
    ]
    return {
        "grid": N,
        "nu": NU,
        "spectral": {
            "trajectories": len(pairs),
            "seconds": spectral_s,
            "seconds_worst": max(x["worst_s"] for x in spec_times),
            "cpu_seconds": spectral_cpu,
            "traj_per_s": spectral_rate,
            "error_mean": float(np.mean(spectral_err)),
            "error_max": float(np.max(spectral_err)),
        },
        "reference": {
            "method": "FD2 + solve_ivp(BDF, sparse Jacobian)",
            "rtol": rtol,
            "tuning": trials,
            "trajectories": len(picked),
            "seconds": reference_s,
            "seconds_worst": max(x["worst_s"] for x in ref_times),
            "cpu_seconds": reference_cpu,
            "traj_per_s": reference_rate,
            "error_mean": float(np.mean(reference_err)),
            "error_max": float(np.max(reference_err)),
        },
        "repeat": repeat,
        "speedup": spectral_rate / reference_rate,
        "speedup_cpu": (len(pairs) / spectral_cpu) / (len(picked) / reference_cpu),
        "speedup_runs": ratios,
        "error_ratio": float(np.max(spectral_err) / np.max(reference_err)),
    }


def bench_golden(fraction: int) -> dict:
    """Generate the golden data (or 1/fraction of it) into a temp cache; time it."""
    from unisim.data import ensure_data

    golden = DataConfig()  # the defaults are the golden data settings
    sizes = {k: max(1, getattr(golden, k) // fraction) for k in ("n_train", "n_val", "n_test")}
    with tempfile.TemporaryDirectory() as tmp:
        cfg = golden.model_copy(update={"cache_dir": tmp, **sizes})
        made = ensure_data(cfg)
        n = sum(sizes.values())
    total = golden.n_train + golden.n_val + golden.n_test
    return {
        "trajectories": n,
        "seconds": made.seconds,
        "estimate_full_s": made.seconds * total / n,
        "full_trajectories": total,
        "settings": f"nu={golden.nu} solver_nx={golden.solver_nx} nx={golden.nx} nt={golden.nt}",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer trajectories (smoke run)")
    parser.add_argument("--json", help="also write the results as JSON here")
    parser.add_argument("--repeat", type=int, help="timed runs per solver (default 3; quick 2)")
    args = parser.parse_args(argv)
    n_spec, n_ref, fraction = (8, 2, 8) if args.quick else (32, 8, 1)
    repeat = args.repeat or (2 if args.quick else 3)
    if repeat < 1:
        parser.error(f"--repeat must be >= 1 (got {repeat})")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(
        f"machine: {cpus} cpus, load average {load:.1f}; mode: {'quick' if args.quick else 'full'}"
    )

    res = bench_solvers(n_spec, n_ref, repeat)
    s, r = res["spectral"], res["reference"]
    print(f"\nBurgers, {N} points, nu={NU}, t in [0, {T_FINAL}], error vs Cole-Hopf (rel. L2)")
    print(
        "  reference tuning (1 trajectory): "
        + ", ".join(
            f"rtol={tr['rtol']:g}: err {tr['error']:.2e} in {tr['s']:.2f}s" for tr in r["tuning"]
        )
    )
    print(f"  {'solver':44s} {'traj/s':>8s} {'err mean':>9s} {'err max':>9s}")
    print(
        f"  {'ETDRK4 pseudo-spectral (unisim, batched)':44s} {s['traj_per_s']:8.2f} "
        f"{s['error_mean']:9.2e} {s['error_max']:9.2e}"
    )
    print(
        f"  {'FD2 + solve_ivp BDF, rtol=' + format(r['rtol'], 'g'):44s} {r['traj_per_s']:8.2f} "
        f"{r['error_mean']:9.2e} {r['error_max']:9.2e}"
    )
    ok = res["speedup"] >= 20 and res["error_ratio"] <= 1
    print(
        f"  speedup {res['speedup']:.1f}x at {1 / res['error_ratio']:.0f}x smaller max error "
        f"(goal: >= 20x at equal or better error: {'met' if ok else 'NOT met'})"
    )
    runs = res["speedup_runs"]
    print(
        f"  best of {repeat} (wall): spectral {s['seconds']:.2f}-{s['seconds_worst']:.2f} s, "
        f"reference {r['seconds']:.2f}-{r['seconds_worst']:.2f} s; per-run speedups "
        f"{min(runs):.1f}-{max(runs):.1f}x; in CPU time {res['speedup_cpu']:.1f}x"
    )

    gold = bench_golden(fraction)
    res["golden"] = gold
    print(
        f"\ngolden data ({gold['settings']}): {gold['trajectories']} trajectories "
        f"in {gold['seconds']:.1f} s",
        end="",
    )
    if fraction > 1:
        print(f"; full {gold['full_trajectories']}: ~{gold['estimate_full_s']:.0f} s (scaled)")
    else:
        print()
    verdict = "met" if gold["estimate_full_s"] < 120 else "NOT met"
    print(f"  goal: well under 120 s on 2 cores: {verdict}")
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
