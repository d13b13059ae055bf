"""The persistence reference's config (no section of its own) and builder; nets/persistence.py.

    model: {name: persistence, context: 1}
    build_model(cfg)    # -> unisim.models.nets.persistence.Persistence, u_{t+1} = u_t

Torch is imported only by the builder. ``Persistence`` is also reachable here, resolved
on first use: models pickled before the networks moved to ``nets/`` name it by this path.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Literal

from unisim.config.base import ModelSpec
from unisim.models import register

if TYPE_CHECKING:
    from torch import nn

    from unisim.config import Config


class PersistenceModelConfig(ModelSpec):
    name: Literal["persistence"] = "persistence"


@register(PersistenceModelConfig)
def build_persistence(cfg: Config) -> nn.Module:
    from unisim.models import default_cond
    from unisim.models.nets.persistence import Persistence

    nx = cfg.data.nx // cfg.data.downsample_x
    return Persistence(context=cfg.model.context, nx=nx, cond=default_cond(cfg))


def __getattr__(name: str) -> Any:
    if name == "Persistence":  # moved to nets/ (pickled models name it here)
        return importlib.import_module("unisim.models.nets.persistence").Persistence
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
