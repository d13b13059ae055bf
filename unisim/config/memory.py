"""Will a config's data fit in this machine's memory? An estimate, checked when a config loads.

    need = data_memory(cfg.data)      # DataMemory(stored=..., solver=...), bytes
    need.total > available_memory()   # the loader refuses the config then, with the estimate

``stored``: every trajectory as float32 on the grid the model sees,
``(n_train + n_val + n_test) * nt * nx * 4`` bytes after downsampling (what
``load_data`` returns). ``solver`` (``source: generate`` only): the generator's working
set, one batch of ``SOLVER_BATCH`` trajectories per worker thread, each with about
``SOLVER_ARRAYS`` float64 arrays on the solver grid (ETDRK4 stages and FFT buffers:
about 11 measured with tracemalloc) plus its float64 output, and the chunk of initial
conditions drawn up front. The figures mirror ``unisim.data.store`` (a test pins them);
this module stays free of numpy so that loading a config stays cheap.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from unisim.config.schema import DataConfig

SOLVER_BATCH = 64  # unisim.data.store.BATCH_SIZE: trajectories per solver call
MAX_WORKERS = 8  # unisim.data.store._workers: solver threads at most
SOLVER_ARRAYS = 12  # float64 arrays of solver_nx points alive per trajectory in one step
IC_CHUNK = 256  # initial conditions evaluated per chunk while planning (store._plan)
IC_ARRAYS = 4  # float64 temporaries per point while evaluating them
GIB = 1024**3


@dataclass(frozen=True)
class DataMemory:
    stored: int  # bytes: the float32 trajectories
    solver: int  # bytes: the generator's working set (0 when reading a file)

    @property
    def total(self) -> int:
        return self.stored + self.solver


def solver_workers(n_batches: int) -> int:
    """Solver threads ``unisim.data.store`` uses: one per CPU (or UNISIM_DATA_WORKERS), <= 8."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS
        cpus = os.cpu_count() or 1
    env = os.environ.get("UNISIM_DATA_WORKERS", "")
    if env.isdigit() and int(env) > 0:
        cpus = int(env)
    return max(1, min(cpus, n_batches, MAX_WORKERS))


def data_memory(data: DataConfig) -> DataMemory:
    """Estimated peak memory of generating (or reading) and loading ``data``."""
    n = data.n_train + data.n_val + data.n_test
    nx = data.nx // data.downsample_x
    nt = (data.nt - 1) // data.downsample_t + 1
    stored = n * nt * nx * 4
    if data.source != "generate":
        return DataMemory(stored, 0)
    batch = min(SOLVER_BATCH, n)
    per_batch = batch * (SOLVER_ARRAYS * data.solver_nx + data.nt * data.nx) * 8
    workers = solver_workers(-(-n // SOLVER_BATCH))
    plan = min(IC_CHUNK, n) * data.solver_nx * 8 * IC_ARRAYS
    return DataMemory(stored, workers * per_batch + plan)


def available_memory() -> int:
    """Bytes the OS can give this process now without swapping (psutil's ``available``)."""
    import psutil

    return int(psutil.virtual_memory().available)


def gib(n: int) -> str:
    """Bytes for a message: ``19,550.3 GiB``, ``6 MiB``."""
    return f"{n / GIB:,.1f} GiB" if n >= GIB else f"{n / 2**20:,.0f} MiB"
