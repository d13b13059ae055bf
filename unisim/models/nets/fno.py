"""A compact 1D Fourier Neural Operator baseline (Li et al. 2021; PDEBench's FNO1d shape).

    model = FNO1d(context=1, nx=128, cond=[0.0], modes=16, width=48, layers=4)
    nxt = model(u, cond)              # (B, C, X), (B, K) -> (B, X)

Built by ``unisim.models.fno`` (its config ``model.fno`` and builder) for ``model.name: fno``.

Lifting (1x1 conv of the context frames, the grid coordinate and the K
conditioning channels, the PDE's normalised coefficients) to
``width`` channels, ``layers`` Fourier layers (spectral convolution on the lowest
``modes`` modes + a 1x1 skip, GELU), then a two-layer 1x1 projection. The output
is the increment added to the newest input frame.
"""

from __future__ import annotations

import torch
from torch import nn

from unisim.models.nets.base import Surrogate


class SpectralConv1d(nn.Module):
    """Multiply the lowest ``modes`` Fourier modes by learned complex matrices.

    The weights are stored as real tensors ``(in, out, modes, 2)`` so optimisers,
    DDP (gloo) and checkpoints only see real parameters.
    """

    def __init__(self, c_in: int, c_out: int, modes: int) -> None:
        super().__init__()
        self.modes = modes
        scale = 1.0 / (c_in * c_out)
        self.weight = nn.Parameter(scale * torch.rand(c_in, c_out, modes, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (B, C_in, X) -> (B, C_out, X). FFTs run in float32 (bf16 FFTs are not supported).
        n = x.shape[-1]
        with torch.autocast(device_type=x.device.type, enabled=False):
            x_ft = torch.fft.rfft(x.float(), dim=-1)[..., : self.modes]  # (B, C_in, modes)
            w = torch.view_as_complex(self.weight.float())  # (C_in, C_out, modes)
            out_ft = torch.einsum("bim,iom->bom", x_ft, w)
            # irfft zero-pads the missing high modes up to n//2+1
            return torch.fft.irfft(out_ft, n=n, dim=-1)


class FNO1d(Surrogate):
    def __init__(
        self,
        *,
        context: int,
        nx: int,
        cond: tuple[float, ...] | list[float] = (),
        modes: int,
        width: int,
        layers: int,
        condition: bool = True,
    ) -> None:
        super().__init__(context=context, nx=nx, cond=cond)
        self.condition_nu = condition  # the attribute's name in pickled models
        c_in = context + 1 + (self.cond_dim if condition else 0)  # frames, grid x, cond
        self.register_buffer("grid", torch.arange(nx, dtype=torch.float32) / nx, persistent=False)
        self.lift = nn.Conv1d(c_in, width, 1)
        self.spectral = nn.ModuleList(SpectralConv1d(width, width, modes) for _ in range(layers))
        self.skip = nn.ModuleList(nn.Conv1d(width, width, 1) for _ in range(layers))
        self.act = nn.GELU()
        self.project = nn.Sequential(
            nn.Conv1d(width, 2 * width, 1), nn.GELU(), nn.Conv1d(2 * width, 1, 1)
        )

    def forward(self, u: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        b, _, n = u.shape
        parts = [u, self.grid.to(u.dtype).expand(b, 1, n)]
        if self.condition_nu:
            c = self.conditioning(u, cond)  # (B, K)
            parts.append(c[:, :, None].expand(b, c.shape[1], n))
        h = self.lift(torch.cat(parts, dim=1))  # (B, width, X)
        last = len(self.spectral) - 1
        for i, (spec, skip) in enumerate(zip(self.spectral, self.skip, strict=True)):
            h = spec(h).to(h.dtype) + skip(h)
            if i < last:
                h = self.act(h)
        return u[:, -1] + self.project(h)[:, 0]
