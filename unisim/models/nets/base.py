"""What every surrogate shares: the call signature and the default conditioning vector.

class MyModel(Surrogate):
    def forward(self, u, cond=None):          # (B, C, X), (B, K) | None -> (B, X)
        cond = self.conditioning(u, cond)     # (B, K) float tensor, never None

``cond`` is the PDE's conditioning vector (``pde.conditioning(coeffs)``: each coefficient
mapped onto [-1, 1] by its spec), one row per sample; None means the config's default
(the centre of the coefficients' draws), stored in the model as the ``default_cond`` buffer.

Models pickled before the PDE seam carry ``default_nu`` instead and were trained on
``(log10 nu + 1.5) / 1.5``; ``conditioning`` gives them exactly that, converting a Burgers
conditioning vector back (so old champions predict as before).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class Surrogate(nn.Module):
    """Base class: stores ``context``, ``nx`` and the default conditioning (a buffer, saved)."""

    def __init__(self, *, context: int, nx: int, cond: Sequence[float] = ()) -> None:
        super().__init__()
        self.context = context
        self.nx = nx
        self.register_buffer(
            "default_cond", torch.tensor(list(cond), dtype=torch.float32), persistent=True
        )

    @property
    def cond_dim(self) -> int:
        """K, the length of the conditioning vector (1 for a model pickled before the seam)."""
        buf = self._buffers.get("default_cond")
        return 1 if buf is None else int(buf.shape[0])

    def conditioning(self, u: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        """(B, K): ``cond`` as given, else the default for every sample."""
        b = u.shape[0]
        if "default_cond" not in self._buffers:  # pickled before the PDE seam
            if cond is None:
                nu = self._buffers["default_nu"].to(u.dtype).expand(b)
                return ((torch.log10(nu) + 1.5) / 1.5)[:, None]
            # Burgers' feature (log10 nu + 1) / 2 back to the legacy (log10 nu + 1.5) / 1.5
            return ((2.0 * cond.to(u.dtype).reshape(b, 1) + 0.5) / 1.5).reshape(b, 1)
        if cond is None:
            return self.default_cond.to(u.dtype).expand(b, -1)
        return cond.to(u.dtype).reshape(b, self.cond_dim)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):  # type: ignore[no-untyped-def]
        # A checkpoint from before the PDE seam holds `default_nu` and weights trained on
        # (log10 nu + 1.5) / 1.5: become such a model (``conditioning`` then converts).
        old, new = prefix + "default_nu", prefix + "default_cond"
        if old in state_dict and new not in state_dict and "default_cond" in self._buffers:
            del self._buffers["default_cond"]
            self.register_buffer("default_nu", state_dict[old].clone(), persistent=True)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def extra_repr(self) -> str:
        return f"context={self.context}, nx={self.nx}, cond_dim={self.cond_dim}"


def circular_conv(c_in: int, c_out: int, kernel: int) -> nn.Conv1d:
    """Same-size 1D convolution with periodic padding (the domains are periodic)."""
    return nn.Conv1d(c_in, c_out, kernel, padding=kernel // 2, padding_mode="circular")


def init_zero(layer: nn.Module) -> nn.Module:
    """Zero the last layer of a residual branch so a fresh block starts as the identity."""
    for p in layer.parameters():
        nn.init.zeros_(p)
    return layer
