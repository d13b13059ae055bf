"""Multi-process training under torchrun (DistributedDataParallel).

    unisim train CONFIG --nproc 2
    # re-executes as: python -m torch.distributed.run --standalone --nproc_per_node 2 \\
    #                   -m unisim train CONFIG ...
    dist = init_distributed("auto")   # in each worker: reads WORLD_SIZE / RANK / LOCAL_RANK
    dist.is_main                      # rank 0: the only one that talks to MLflow and writes files

Backend: nccl when the workers use CUDA, gloo otherwise (CPU). A single process
(no WORLD_SIZE) gets a ``DistInfo`` with ``world_size=1`` and every helper here
becomes a no-op.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from dataclasses import dataclass

import torch

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    backend: str | None = None
    owns_group: bool = False  # we called init_process_group, so we tear it down

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def pick_device(name: str, dist: DistInfo | None = None) -> torch.device:
    """``auto``: cuda (this worker's GPU under torchrun), then mps, then cpu."""
    local = dist.local_rank if dist is not None else 0
    if name == "auto":
        if torch.cuda.is_available():
            name = "cuda"
        elif getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            name = "mps"
        else:
            name = "cpu"
    if name == "cuda":
        return torch.device("cuda", local % max(1, torch.cuda.device_count()))
    return torch.device(name)


def init_distributed(device: str = "auto") -> DistInfo:
    """Join the torchrun process group when WORLD_SIZE > 1; else a single-process DistInfo."""
    import torch.distributed as td

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = device in ("auto", "cuda") and torch.cuda.is_available()
    backend = "nccl" if use_cuda else "gloo"
    if td.is_initialized():
        return DistInfo(rank, local, world, td.get_backend())
    if use_cuda:
        torch.cuda.set_device(local % torch.cuda.device_count())
    td.init_process_group(backend=backend)
    log.info("rank %d/%d joined the %s process group", rank, world, backend)
    return DistInfo(rank, local, world, backend, owns_group=True)


def shutdown(dist: DistInfo) -> None:
    import torch.distributed as td

    if dist.owns_group and td.is_initialized():
        td.destroy_process_group()


def barrier(dist: DistInfo) -> None:
    if dist.enabled:
        import torch.distributed as td

        td.barrier()


def all_reduce_mean(value: torch.Tensor, dist: DistInfo) -> torch.Tensor:
    """Mean of a tensor over ranks (a copy; the identity for one process)."""
    if not dist.enabled:
        return value
    import torch.distributed as td

    out = value.detach().clone()
    td.all_reduce(out, op=td.ReduceOp.SUM)
    return out / dist.world_size


def any_rank(flag: bool, dist: DistInfo, device: torch.device) -> bool:
    """True on every rank when ``flag`` is true on at least one (keeps decisions in step)."""
    if not dist.enabled:
        return flag
    import torch.distributed as td

    t = torch.tensor([1.0 if flag else 0.0], device=device)
    td.all_reduce(t, op=td.ReduceOp.MAX)
    return bool(t.item() > 0)


def torchrun_command(nproc: int, args: list[str]) -> list[str]:
    """The command line that runs ``unisim ARGS`` in ``nproc`` workers on this machine."""
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",  # single node; rendezvous on a free local port
        "--nproc_per_node",
        str(nproc),
        "-m",
        "unisim",
        *args,
    ]


def launch(nproc: int, args: list[str]) -> int:
    """Run ``unisim ARGS`` under torchrun and return its exit code."""
    cmd = torchrun_command(nproc, args)
    log.info("launching %s", " ".join(cmd))
    env = dict(os.environ)
    # torchrun would set 1 (and warn); split the physical cores between the ranks instead
    # (training.threads, when set, still wins inside each worker: training/threads.py)
    from unisim.training.threads import resolve_threads

    env.setdefault("OMP_NUM_THREADS", str(resolve_threads(None, nproc)))
    return subprocess.call(cmd, env=env)
