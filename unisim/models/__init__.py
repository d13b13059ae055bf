"""Surrogate models: one module per architecture, chosen by ``model.name`` in the config.

    from unisim.models import build_model, MODEL_REGISTRY, rollout
    model = build_model(cfg)               # latent | fno | neuralop_fno | persistence
    nxt = model(u)                         # u: (B, context, X) -> (B, X), the next stored step
    traj = rollout(model, u, steps=10)     # (B, context, X) -> (B, 10, X), autoregressive

Every model has the same call signature ``model(u, cond=None)``: ``u`` holds the
last ``context`` stored time steps, ``cond`` is the (B, K) conditioning vector of the
PDE (``pde.conditioning(coeffs)``: its K coefficients, each normalised onto [-1, 1] by
the PDE spec) or None (the centre of the config's draws, stored in the model as a
buffer). Models never import mlflow; they are plain ``nn.Module`` objects.

Adding an architecture: one spec module here, ``unisim/models/NAME.py``, with its
config (a ``unisim.config.base.ModelSpec`` subclass with ``name: Literal["NAME"]`` and
its own section, e.g. ``NAME: NAMEConfig``) and a builder decorated with
``@register(NAMEModelConfig)``, plus its network in ``unisim/models/nets/NAME.py``. No
config code changes: the ``model`` section of the config is a union of every spec.

Discovery: ``load_architectures()`` imports every module directly in this package
(``pkgutil.iter_modules``; sub-packages such as ``nets`` and names starting with ``_``
are skipped) and each one's ``@register`` calls fill the registry. ``unisim.config``
does this once, when its schema is first used. So modules directly in
``unisim/models/`` must not import torch at module level (the builder imports the
network lazily); a test holds every registered architecture to that.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from unisim.errors import ConfigError

if TYPE_CHECKING:
    import torch
    from torch import nn

    from unisim.config import Config
    from unisim.config.base import ModelSpec

DEFAULT_MODEL = "latent"  # model.name when a config does not say

# name -> builder(cfg) -> nn.Module, and name -> config class; filled by @register.
MODEL_REGISTRY: dict[str, Callable[[Config], nn.Module]] = {}
MODEL_SPECS: dict[str, type[ModelSpec]] = {}
_discovered = False

Builder = Callable[["Config"], Any]


def register(spec: type[ModelSpec]) -> Callable[[Builder], Builder]:
    """Decorator: ``@register(FNOModelConfig) def build_fno(cfg): ...`` adds an architecture."""
    name = spec.arch_name()

    def deco(fn: Builder) -> Builder:
        if MODEL_SPECS.get(name, spec) is not spec:
            raise ValueError(f"model name {name!r} registered twice")
        MODEL_SPECS[name] = spec
        MODEL_REGISTRY[name] = fn
        return fn

    return deco


def load_architectures() -> dict[str, type[ModelSpec]]:
    """Import the architecture modules once; ``{name: spec}``, the default first, then A-Z."""
    global _discovered
    if not _discovered:
        for info in pkgutil.iter_modules(__path__):
            if not info.ispkg and not info.name.startswith("_"):
                importlib.import_module(f"{__name__}.{info.name}")
        _discovered = True
    names = sorted(MODEL_SPECS, key=lambda n: (n != DEFAULT_MODEL, n))
    return {name: MODEL_SPECS[name] for name in names}


def build_model(cfg: Config) -> nn.Module:
    """Build the model named by ``cfg.model.name`` (fresh weights; seed torch first)."""
    load_architectures()
    name = cfg.model.name
    if name not in MODEL_REGISTRY:
        known = ", ".join(sorted(MODEL_REGISTRY))
        raise ConfigError(f"model.name: unknown model {name!r} (known: {known})")
    return MODEL_REGISTRY[name](cfg)


def default_cond(cfg: Config) -> list[float]:
    """The conditioning vector a model of ``cfg`` assumes when not told (K floats)."""
    spec = cfg.data.equation
    return [float(v) for v in cfg.data.pde.default_conditioning(spec)]


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters (0 for persistence)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def rollout(
    model: nn.Module,
    context_frames: torch.Tensor,
    steps: int,
    cond: torch.Tensor | None = None,
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
        nxt = model(window, cond)  # (B, X); cond (B, K) is the same every step
        frames.append(nxt)
        window = torch.cat([window[:, 1:], nxt[:, None]], dim=1)
    return torch.stack(frames, dim=1)


__all__ = [
    "DEFAULT_MODEL",
    "MODEL_REGISTRY",
    "MODEL_SPECS",
    "build_model",
    "count_parameters",
    "default_cond",
    "load_architectures",
    "register",
    "rollout",
]
