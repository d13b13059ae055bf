"""The latent surrogate's config (``model.latent``) and builder; the network is in nets/latent.py.

    model:
      name: latent
      context: 1
      latent: {dim: 16, tokens: 32, processor: fno, width: 64, layers: 2, hidden: 48}

    build_model(cfg)    # -> unisim.models.nets.latent.LatentSurrogate

Torch is imported only by the builder. ``LatentSurrogate`` and its processors are also
reachable here (``unisim.models.latent.LatentSurrogate``, resolved on first use): models
pickled before the networks moved to ``nets/`` name them by this path.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from unisim.config.base import CrossFieldError, ModelSpec, Section
from unisim.models import register

if TYPE_CHECKING:
    from torch import nn

    from unisim.config import Config


class LatentConfig(Section):
    dim: int = Field(16, ge=1)  # channels per latent token
    tokens: int = Field(32, ge=1)  # latent tokens; must divide data.nx
    processor: Literal["transformer", "fno", "mlp"] = "transformer"
    layers: int = Field(2, ge=1)
    heads: int = Field(4, ge=1)  # transformer only
    hidden: int = Field(64, ge=1)  # encoder/decoder conv width (runs on the full grid: costly)
    ffn: int | None = Field(None, ge=1)  # processor feed-forward width (on tokens); None = hidden
    width: int | None = Field(None, ge=1)  # fno/transformer channels per token; None = dim
    # a linear spectral path on the newest frame over its lowest N Fourier modes; 0 = off
    linear_modes: int = Field(0, ge=0)


class LatentModelConfig(ModelSpec):
    name: Literal["latent"] = "latent"
    latent: LatentConfig = LatentConfig()

    def check_grid(self, nx: int, nt: int) -> None:
        lat = self.latent
        if nx % lat.tokens:
            raise CrossFieldError(
                f"model.latent.tokens={lat.tokens} must divide the grid "
                f"(data.nx={nx} after downsampling)",
                "model.latent.tokens",
                "data.nx",
                "data.downsample_x",
            )
        width_key, width = ("width", lat.width) if lat.width else ("dim", lat.dim)
        if lat.processor == "transformer" and width % lat.heads:
            raise CrossFieldError(
                f"model.latent.heads={lat.heads} must divide model.latent.{width_key}={width}",
                "model.latent.heads",
                f"model.latent.{width_key}",
            )
        if lat.linear_modes > nx // 2 + 1:
            raise CrossFieldError(
                f"model.latent.linear_modes={lat.linear_modes} exceeds the {nx // 2 + 1} "
                f"Fourier modes of the grid (data.nx={nx} after downsampling)",
                "model.latent.linear_modes",
                "data.nx",
                "data.downsample_x",
            )


@register(LatentModelConfig)
def build_latent(cfg: Config) -> nn.Module:
    from unisim.models import default_cond
    from unisim.models.nets.latent import LatentSurrogate

    m = cfg.model
    assert isinstance(m, LatentModelConfig)
    lat = m.latent
    return LatentSurrogate(
        context=m.context,
        nx=cfg.data.nx // cfg.data.downsample_x,
        cond=default_cond(cfg),
        dim=lat.dim,
        tokens=lat.tokens,
        processor=lat.processor,
        layers=lat.layers,
        heads=lat.heads,
        hidden=lat.hidden,
        ffn=lat.ffn,
        width=lat.width,
        linear_modes=lat.linear_modes,
        condition=m.condition,
    )


# Classes that lived in this module before the move to nets/ (pickled models name them).
_MOVED = ("LatentSurrogate", "MLPProcessor", "SpectralProcessor", "TransformerProcessor")


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        return getattr(importlib.import_module("unisim.models.nets.latent"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
