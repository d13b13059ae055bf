"""Optimiser, learning-rate schedule and EMA of the weights.

    opt = build_optimizer(model, cfg.training)
    sched = build_scheduler(opt, cfg.training, total_steps=epochs * steps_per_epoch)
    ema = EMA(model, decay=0.999); ema.update(model); ema.model  # evaluate with ema.model

Schedules step once per optimiser step (not per epoch), so their shape does not
depend on the epoch length.
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn

from unisim.config import TrainingConfig


def build_optimizer(model: nn.Module, cfg: TrainingConfig) -> torch.optim.Optimizer:
    """AdamW; biases, norms and embeddings (tensors with < 2 dims) get no weight decay."""
    params = [p for p in model.parameters() if p.requires_grad]
    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]
    groups = [
        {"params": decay, "weight_decay": cfg.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=cfg.lr)


def build_scheduler(
    opt: torch.optim.Optimizer, cfg: TrainingConfig, total_steps: int
) -> torch.optim.lr_scheduler.LRScheduler:
    """cosine: lr -> 1% of lr over the run; onecycle: 10% warm-up then cosine; constant."""
    total = max(1, total_steps)
    if cfg.schedule == "onecycle":
        return torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=cfg.lr, total_steps=total + 1, pct_start=0.1, anneal_strategy="cos"
        )
    if cfg.schedule == "cosine":
        floor = 0.01

        def cosine(step: int) -> float:
            frac = min(step, total) / total
            return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * frac))

        return torch.optim.lr_scheduler.LambdaLR(opt, cosine)
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 1.0)


class EMA:
    """Exponential moving average of a model's parameters (buffers are copied)."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.model = copy.deepcopy(model).eval()
        for p in self.model.parameters():
            p.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        ema_p = list(self.model.parameters())
        cur_p = list(model.parameters())
        torch._foreach_lerp_(ema_p, cur_p, 1.0 - self.decay)  # ema += (1-d) * (cur - ema)
        for b_ema, b in zip(self.model.buffers(), model.buffers(), strict=True):
            b_ema.copy_(b)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.model.state_dict()

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        self.model.load_state_dict(state)
