"""neuraloperator's FNO as a unisim architecture (``model.name: neuralop_fno``): the peer
the benchmark tunes and trains exactly like unisim's own models.

    model:
      name: neuralop_fno
      context: 1
      neuralop_fno: {modes: 16, width: 32, layers: 4}

    build_model(cfg)    # -> unisim.models.nets.neuralop_fno.NeuralopFNO

The network is ``neuralop.models.FNO`` (the ``neuraloperator`` package, installed with the
``dev`` and ``bench`` extras) behind unisim's call signature ``model(u, cond=None)``: its
input channels are the ``context`` frames plus the conditioning vector broadcast over x,
its positional embedding is neuralop's own grid, and like unisim's FNO it predicts the
increment added to the newest frame. ``modes`` counts rfft modes as in ``model.fno``
(neuralop's ``n_modes`` counts the full spectrum and keeps ``n_modes // 2 + 1``, so it
gets ``2 * modes - 1``). Torch and neuralop are imported only by the builder.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field

from unisim.config.base import ModelSpec
from unisim.errors import ConfigError
from unisim.models import register
from unisim.models.fno import FNOConfig, check_modes

if TYPE_CHECKING:
    from torch import nn

    from unisim.config import Config


class NeuralopFNOConfig(FNOConfig):
    width: int = Field(32, ge=1)  # modes and layers as model.fno (modes: rfft modes kept)


class NeuralopFNOModelConfig(ModelSpec):
    name: Literal["neuralop_fno"] = "neuralop_fno"
    neuralop_fno: NeuralopFNOConfig = NeuralopFNOConfig()

    def check_grid(self, nx: int, nt: int) -> None:
        check_modes(self.neuralop_fno.modes, nx, "model.neuralop_fno.modes")


@register(NeuralopFNOModelConfig)
def build_neuralop_fno(cfg: Config) -> nn.Module:
    try:
        import neuralop  # noqa: F401
    except ImportError as exc:
        raise ConfigError(
            "model.name=neuralop_fno needs the neuraloperator package: pip install -e '.[bench]'"
        ) from exc
    from unisim.models import default_cond
    from unisim.models.nets.neuralop_fno import NeuralopFNO

    m = cfg.model
    assert isinstance(m, NeuralopFNOModelConfig)
    return NeuralopFNO(
        context=m.context,
        nx=cfg.data.nx // cfg.data.downsample_x,
        cond=default_cond(cfg),
        modes=m.neuralop_fno.modes,
        width=m.neuralop_fno.width,
        layers=m.neuralop_fno.layers,
        condition=m.condition,
    )
