"""The training objective and the window batches it consumes.

    windows = TrajectoryWindows(train, context=1, horizon=4, device="cpu", cond=cond)
    for window, target, c in windows.batches(epoch, batch_size=32, rank=0, world=1, seed=0):
        loss, parts = objective(window, target, c)   # (B, C, X), (B, R, X), (B, K) | None

``train`` is (N, nt, X); ``cond`` (N, K) the PDE's conditioning vector per trajectory.

The loss lives in physical space and is normalised per sample like the PDEBench
nRMSE (RMSE over x divided by the RMS of the target over x), so the one-step,
rollout and reconstruction terms share one scale whatever the amplitude of u:

    loss = w_one * L(step 1) + w_roll * mean_k L(step k, k = 1..R) + w_rec * L(D(E(u_t)), u_t)

The objective is an ``nn.Module`` holding the model, so DistributedDataParallel
wraps it whole and one forward call covers every unrolled step.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch import nn

from unisim.config import TrainingConfig
from unisim.models import rollout

EPS = 1e-8  # guards an all-zero target frame (as nRMSE's EPS, but safe for gradients)


def relative_rmse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """(..., X), (..., X) -> scalar: mean over leading dims of RMSE_x / RMS_x(target)."""
    err = torch.sqrt(torch.mean((pred - target) ** 2, dim=-1) + EPS**2)
    scale = torch.sqrt(torch.mean(target**2, dim=-1)).clamp_min(EPS)
    return torch.mean(err / scale)


class SurrogateObjective(nn.Module):
    """One-step + multi-step rollout + reconstruction loss around a surrogate."""

    def __init__(self, model: nn.Module, cfg: TrainingConfig) -> None:
        super().__init__()
        self.model = model
        self.w_one, self.w_roll, self.w_rec = cfg.loss_one_step, cfg.loss_rollout, cfg.loss_recon
        self.pushforward = cfg.rollout_grad == "pushforward"

    def forward(
        self, window: torch.Tensor, target: torch.Tensor, cond: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """window (B, C, X) true frames, target (B, R, X) the next R frames, cond (B, K)."""
        steps = target.shape[1] if self.w_roll > 0 else 1
        parts: dict[str, torch.Tensor] = {}
        if self.pushforward and steps > 1:
            first = self.model(window, cond)  # (B, X) with gradient: the one-step term
            with torch.no_grad():  # earlier steps: no gradient (pushforward trick)
                prefix = rollout(self.model, window, steps - 1, cond)
            frames = torch.cat([window, prefix], dim=1)[:, -window.shape[1] :]
            last = self.model(frames, cond)
            parts["one_step"] = relative_rmse(first, target[:, 0])
            parts["rollout"] = relative_rmse(last, target[:, steps - 1])
        else:
            pred = rollout(self.model, window, steps, cond)  # (B, steps, X)
            parts["one_step"] = relative_rmse(pred[:, 0], target[:, 0])
            if self.w_roll > 0:
                parts["rollout"] = relative_rmse(pred, target[:, :steps])
        loss = self.w_one * parts["one_step"]
        if "rollout" in parts:
            loss = loss + self.w_roll * parts["rollout"]
        reconstruct = getattr(self.model, "reconstruct", None)
        if self.w_rec > 0 and reconstruct is not None:
            parts["recon"] = relative_rmse(reconstruct(window, cond), window[:, -1])
            loss = loss + self.w_rec * parts["recon"]
        return loss, {k: v.detach() for k, v in parts.items()}


class TrajectoryWindows:
    """All (trajectory, start) windows of a split, gathered into batches on the device.

    Window i covers frames ``start .. start + C + R - 1`` of one trajectory: the
    first C are the input, the next R the targets. The shuffle depends only on
    (seed, epoch), and ranks take disjoint shards (``DistributedSampler``'s
    rule), so a resumed run sees exactly the batches an uninterrupted one would.
    """

    def __init__(
        self,
        data: np.ndarray,
        *,
        context: int,
        horizon: int,
        device: torch.device,
        cond: np.ndarray | None = None,
    ):
        if data.ndim != 3:
            raise ValueError(f"trajectories must be (N, nt, X), got {data.shape}")
        n, nt, _ = data.shape
        self.context = context
        self.horizon = max(1, min(horizon, nt - context))  # R: unrolled target steps
        self.starts = nt - context - self.horizon + 1  # windows per trajectory
        if self.starts < 1:
            raise ValueError(f"nt={nt} too short for context={context}")
        self.data = torch.as_tensor(np.ascontiguousarray(data), dtype=torch.float32).to(device)
        self.cond = (  # (N, K) conditioning per trajectory, or None: the model's default
            None
            if cond is None
            else torch.as_tensor(np.asarray(cond), dtype=torch.float32).reshape(n, -1).to(device)
        )
        self.offsets = torch.arange(context + self.horizon, device=device)
        self.n_windows = n * self.starts

    def __len__(self) -> int:
        return self.n_windows

    def shard(self, epoch: int, *, rank: int, world: int, seed: int) -> torch.Tensor:
        """This rank's window indices for ``epoch`` (same count on every rank)."""
        from torch.utils.data import DistributedSampler

        sampler = DistributedSampler(
            range(self.n_windows), num_replicas=world, rank=rank, shuffle=True, seed=seed
        )
        sampler.set_epoch(epoch)
        return torch.tensor(list(sampler), dtype=torch.long)

    def steps_per_epoch(self, batch_size: int, world: int) -> int:
        per_rank = -(-self.n_windows // world)
        return -(-per_rank // batch_size)

    def batches(
        self, epoch: int, *, batch_size: int, rank: int = 0, world: int = 1, seed: int = 0
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]]:
        """Yield (window (B, C, X), target (B, R, X), cond (B, K) | None) for one epoch."""
        idx = self.shard(epoch, rank=rank, world=world, seed=seed).to(self.data.device)
        for lo in range(0, len(idx), batch_size):
            chunk = idx[lo : lo + batch_size]
            traj, start = chunk // self.starts, chunk % self.starts
            frames = self.data[traj[:, None], start[:, None] + self.offsets]  # (B, C+R, X)
            cond = None if self.cond is None else self.cond[traj]
            yield frames[:, : self.context], frames[:, self.context :], cond
