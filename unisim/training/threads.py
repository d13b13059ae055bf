"""How many CPU threads torch may use: ``training.threads``, else a sound default.

    n = resolve_threads(cfg.training.threads, world_size=2)   # per DDP rank
    apply_threads(n)                                          # torch.set_num_threads(n)

torch's default is one thread per logical CPU it can see. On a shared 2-core machine
that oversubscribes the cores (hyper-threads, other processes, DDP ranks each taking
every core): a tiny run that takes 2.5 minutes with one thread stalled for over 16.
The default here is the number of *physical* cores this process may run on (its CPU
affinity, ``os.sched_getaffinity``; the cgroup CPU quota when lower; physical vs
logical from psutil), split between the DDP ranks of one machine. An explicit
``OMP_NUM_THREADS`` in the environment is taken as the user's choice. ``unisim
sweep`` workers running side by side divide the same budget (the sweep sets
``training.threads`` per worker).
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

log = logging.getLogger(__name__)


def _cgroup_cpus() -> float | None:
    """The cgroup v2 CPU quota in CPUs (``cpu.max``), None when unlimited or unknown."""
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
    except (OSError, ValueError):
        return None
    if quota == "max":
        return None
    try:
        return max(float(quota) / float(period), 1.0)
    except (ValueError, ZeroDivisionError):
        return None


def available_cores() -> int:
    """Physical cores this process may use (at least 1)."""
    logical = (
        len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    )
    try:
        import psutil

        total_logical = psutil.cpu_count(logical=True) or logical
        total_physical = psutil.cpu_count(logical=False) or total_logical
    except Exception:  # psutil missing or unable to read the topology
        total_logical = total_physical = logical
    per_core = max(1, round(total_logical / total_physical))  # hyper-threads per core
    cores = max(1, logical // per_core)
    quota = _cgroup_cpus()
    if quota is not None:
        cores = min(cores, max(1, math.floor(quota)))
    return cores


def resolve_threads(configured: int | None, world_size: int = 1) -> int:
    """``configured`` (training.threads), else OMP_NUM_THREADS, else physical cores / ranks."""
    if configured:
        return int(configured)
    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env)
    return max(1, available_cores() // max(1, world_size))


def apply_threads(n: int) -> int:
    """``torch.set_num_threads(n)``; returns n."""
    import torch

    if torch.get_num_threads() != n:
        torch.set_num_threads(n)
        log.info("torch uses %d CPU thread%s", n, "" if n == 1 else "s")
    return n
