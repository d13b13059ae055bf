"""The trivial reference: u_{t+1} = u_t (no trainable weights).

    model = Persistence(context=1, nx=128)
    model(u) == u[:, -1]              # (B, C, X) -> (B, X)

Built by ``unisim.models.persistence`` for ``model.name: persistence``.

Any learned surrogate should beat it; training runs 0 optimisation epochs but still
logs a run and a model, so evaluation and gates can treat it like the others.
"""

from __future__ import annotations

import torch

from unisim.models.nets.base import Surrogate


class Persistence(Surrogate):
    def forward(self, u: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        return u[:, -1].clone()  # a copy, not a view of the caller's input
