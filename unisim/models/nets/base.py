"""What every surrogate shares: the call signature and the default viscosity.

class MyModel(Surrogate):
    def forward(self, u, nu=None):          # (B, C, X), (B,) | None -> (B, X)
        nu = self.viscosity(u, nu)         # (B,) float tensor, never None
"""

from __future__ import annotations

import torch
from torch import nn


class Surrogate(nn.Module):
    """Base class: stores ``context``, ``nx`` and the config's ``nu`` (a buffer, saved)."""

    def __init__(self, *, context: int, nx: int, nu: float) -> None:
        super().__init__()
        self.context = context
        self.nx = nx
        self.register_buffer("default_nu", torch.tensor(float(nu)), persistent=True)

    def viscosity(self, u: torch.Tensor, nu: torch.Tensor | None) -> torch.Tensor:
        """(B,) viscosities: ``nu`` as given, else the config's value for every sample."""
        if nu is None:
            return self.default_nu.to(u.dtype).expand(u.shape[0])
        return nu.to(u.dtype).reshape(u.shape[0])

    @staticmethod
    def log_nu(nu: torch.Tensor) -> torch.Tensor:
        """Viscosities span decades (1e-3..1): condition on log10(nu) scaled to about [-1, 1]."""
        return (torch.log10(nu) + 1.5) / 1.5

    def extra_repr(self) -> str:
        return f"context={self.context}, nx={self.nx}, nu={float(self.default_nu):g}"


def circular_conv(c_in: int, c_out: int, kernel: int) -> nn.Conv1d:
    """Same-size 1D convolution with periodic padding (the Burgers domain is periodic)."""
    return nn.Conv1d(c_in, c_out, kernel, padding=kernel // 2, padding_mode="circular")


def init_zero(layer: nn.Module) -> nn.Module:
    """Zero the last layer of a residual branch so a fresh block starts as the identity."""
    for p in layer.parameters():
        nn.init.zeros_(p)
    return layer
