"""Surrogate models: a registry (name -> builder) chosen by ``model.name`` in the config.

    from unisim.models import build_model, MODEL_REGISTRY, rollout
    model = build_model(cfg)               # latent | fno | persistence
    nxt = model(u)                         # u: (B, context, X) -> (B, X), the next stored step
    traj = rollout(model, u, steps=10)     # (B, context, X) -> (B, 10, X), autoregressive

Every model has the same call signature ``model(u, nu=None)``: ``u`` holds the
last ``context`` stored time steps, ``nu`` is a (B,) tensor of viscosities or
None (the config's ``data.nu``, stored in the model as a buffer). Models never
import mlflow; they are plain ``nn.Module`` objects.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from unisim.errors import ConfigError

if TYPE_CHECKING:
    import torch
    from torch import nn

    from unisim.config import Config

# name -> builder(cfg) -> nn.Module; builders are imported lazily so that importing
# this package does not import torch.
MODEL_REGISTRY: dict[str, Callable[[Config], nn.Module]] = {}


def register(name: str) -> Callable[[Callable[[Config], Any]], Callable[[Config], Any]]:
    """Decorator: ``@register("fno") def build_fno(cfg): ...`` adds a builder."""

    def deco(fn: Callable[[Config], Any]) -> Callable[[Config], Any]:
        MODEL_REGISTRY[name] = fn
        return fn

    return deco


def _load_builtin() -> None:
    # Importing the modules runs their @register decorators.
    from unisim.models import fno, latent, persistence  # noqa: F401


def build_model(cfg: Config) -> nn.Module:
    """Build the model named by ``cfg.model.name`` (fresh weights; seed torch first)."""
    _load_builtin()
    name = cfg.model.name
    if name not in MODEL_REGISTRY:
        known = ", ".join(sorted(MODEL_REGISTRY))
        raise ConfigError(f"model.name: unknown model {name!r} (known: {known})")
    return MODEL_REGISTRY[name](cfg)


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters (0 for persistence)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def rollout(
    model: nn.Module,
    context_frames: torch.Tensor,
    steps: int,
    nu: torch.Tensor | None = None,
) -> torch.Tensor:
    """Autoregressive rollout: (B, C, X) true frames -> (B, steps, X) predicted frames.

    Each prediction is fed back as the newest input frame (a sliding window of
    ``C`` frames). Gradients flow through the whole rollout when enabled, which
    is what the multi-step training loss uses.
    """
    import torch

    window = context_frames
    frames = []
    for _ in range(steps):
        nxt = model(window, nu)  # (B, X)
        frames.append(nxt)
        window = torch.cat([window[:, 1:], nxt[:, None]], dim=1)
    return torch.stack(frames, dim=1)


__all__ = ["MODEL_REGISTRY", "build_model", "count_parameters", "register", "rollout"]
