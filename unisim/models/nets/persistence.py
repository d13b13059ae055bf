"""The trivial reference: u_{t+1} = u_t (no trainable weights).

    model = build_model(cfg)          # cfg.model.name == "persistence"
    model(u) == u[:, -1]              # (B, C, X) -> (B, X)

Any learned surrogate should beat it; training runs 0 optimisation epochs but still
logs a run and a model, so evaluation and gates can treat it like the others.
"""

from __future__ import annotations

import torch

from unisim.config import Config
from unisim.models import register
from unisim.models.base import Surrogate


class Persistence(Surrogate):
    def forward(self, u: torch.Tensor, nu: torch.Tensor | None = None) -> torch.Tensor:
        return u[:, -1].clone()  # a copy, not a view of the caller's input


@register("persistence")
def build_persistence(cfg: Config) -> Persistence:
    return Persistence(
        context=cfg.model.context, nx=cfg.data.nx // cfg.data.downsample_x, nu=cfg.data.nu
    )
