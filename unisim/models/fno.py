"""The FNO baseline's config (``model.fno``) and builder; the network is in nets/fno.py.

    model:
      name: fno
      context: 1
      fno: {modes: 16, width: 48, layers: 4}

    build_model(cfg)    # -> unisim.models.nets.fno.FNO1d

Torch is imported only by the builder. ``FNO1d`` and ``SpectralConv1d`` are also
reachable here (``unisim.models.fno.FNO1d``, resolved on first use): models pickled
before the networks moved to ``nets/`` name them by this path.
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


class FNOConfig(Section):
    modes: int = Field(16, ge=1)  # lowest Fourier modes kept; at most nx/2 + 1
    width: int = Field(48, ge=1)
    layers: int = Field(4, ge=1)


class FNOModelConfig(ModelSpec):
    name: Literal["fno"] = "fno"
    fno: FNOConfig = FNOConfig()

    def check_grid(self, nx: int, nt: int) -> None:
        check_modes(self.fno.modes, nx, "model.fno.modes")


def check_modes(modes: int, nx: int, key: str) -> None:
    """An FNO keeps at most nx/2 + 1 rfft modes of an nx-point grid."""
    if modes > nx // 2 + 1:
        raise CrossFieldError(
            f"{key}={modes} exceeds nx/2+1={nx // 2 + 1}", key, "data.nx", "data.downsample_x"
        )


@register(FNOModelConfig)
def build_fno(cfg: Config) -> nn.Module:
    from unisim.models import default_cond
    from unisim.models.nets.fno import FNO1d

    m = cfg.model
    assert isinstance(m, FNOModelConfig)
    return FNO1d(
        context=m.context,
        nx=cfg.data.nx // cfg.data.downsample_x,
        cond=default_cond(cfg),
        modes=m.fno.modes,
        width=m.fno.width,
        layers=m.fno.layers,
        condition=m.condition,
    )


# Classes that lived in this module before the move to nets/ (pickled models name them).
_MOVED = ("FNO1d", "SpectralConv1d")


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        return getattr(importlib.import_module("unisim.models.nets.fno"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
