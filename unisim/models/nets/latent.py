"""The latent surrogate (the "Universal Simulator" shape): encode -> advance -> decode.

    model = LatentSurrogate(context=1, nx=128, cond=[0.0], dim=16, tokens=32)
    nxt = model(u, cond)                       # (B, C, X), (B, K) -> (B, X)
    z = model.encode(u, cond)                  # (B, tokens, dim)
    recon = model.reconstruct(u)               # (B, X) ~ u[:, -1], for the reconstruction loss

Shapes with the defaults (nx=128, tokens=32, dim=16): the encoder's conv stem maps
the C context frames (+ K conditioning channels: the PDE's normalised coefficients)
to 32 tokens of 16 channels with a patchify convolution of stride nx/tokens = 4; the
processor advances the latent state by one stored step with a residual update
``z + f(z, cond)``; the decoder maps tokens back to the grid with a transposed convolution.

Processors (``model.latent.processor``): ``fno``, Fourier layers along the token
axis (global mixing that respects the periodic domain; the golden choice),
``transformer``, pre-norm self-attention with a learned position embedding, and
``mlp``, one residual MLP on the flattened state. ``fno`` and ``transformer``
lift each token to ``width`` channels: that costs little because they run on
32 tokens, not on the 128-point grid.

The prediction is an increment in physical space: ``u_last + D(z') - D(z)``.
Subtracting the decoded current state cancels the decoder's own reconstruction
bias, so an imperfect autoencoder still yields a consistent time step, and a
fresh model starts close to persistence (the residual branch is zero-initialised).

With ``linear_modes > 0`` a linear spectral path adds ``L(u_last)`` to that increment
(``SpectralPropagator``: learned per-mode multipliers, affine in the conditioning). The
exact one-step map of a linear, constant-coefficient PDE has that form (advection shifts
each mode's phase, diffusion damps it), so the latent branch learns only the rest.

Built by ``unisim.models.latent`` (its config ``model.latent`` and builder) for
``model.name: latent``.
"""

from __future__ import annotations

import torch
from torch import nn

from unisim.models.nets.base import Surrogate, circular_conv, init_zero
from unisim.models.nets.fno import SpectralConv1d


class TransformerProcessor(nn.Module):
    """Pre-norm transformer over tokens with a learned positional embedding."""

    def __init__(
        self, tokens: int, dim: int, layers: int, heads: int, hidden: int, width: int
    ) -> None:
        super().__init__()
        # no lift at width == dim: the weights of models saved before `width` existed load
        self.lift = nn.Linear(dim, width) if width != dim else nn.Identity()
        self.pos = nn.Parameter(torch.randn(1, tokens, width) * 0.02)
        layer = nn.TransformerEncoderLayer(
            width, heads, hidden, dropout=0.0, activation="gelu", batch_first=True, norm_first=True
        )
        self.blocks = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.out = nn.Sequential(nn.LayerNorm(width), init_zero(nn.Linear(width, dim)))

    def __setstate__(self, state: dict) -> None:  # a model pickled before `width` existed
        super().__setstate__(state)
        self._modules.setdefault("lift", nn.Identity())

    def forward(self, z: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        # z: (B, T, D); cond: (B, W) viscosity embedding added to every token
        h = self.blocks(self.lift(z) + self.pos + cond[:, None, :])
        return self.out(h)


class MLPProcessor(nn.Module):
    """Residual MLP on the flattened latent state (mixes all tokens at once)."""

    def __init__(self, tokens: int, dim: int, layers: int, hidden: int) -> None:
        super().__init__()
        size = tokens * dim
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.LayerNorm(size), nn.Linear(size, hidden), nn.GELU())
            for _ in range(layers)
        )
        self.back = nn.ModuleList(nn.Linear(hidden, size) for _ in range(layers))
        self.out = init_zero(nn.Linear(size, size))

    def forward(self, z: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        b, t, d = z.shape
        h = (z + cond[:, None, :]).reshape(b, t * d)
        for block, back in zip(self.blocks, self.back, strict=True):
            h = h + back(block(h))
        return self.out(h).reshape(b, t, d)


class SpectralProcessor(nn.Module):
    """Fourier layers over the token axis (an FNO on the 32-point latent grid).

    Tokens are lifted to ``width`` channels; each residual block is a spectral
    convolution on every token mode plus a 1x1 skip, then a channel MLP.
    """

    def __init__(self, tokens: int, dim: int, layers: int, hidden: int, width: int) -> None:
        super().__init__()
        modes = tokens // 2 + 1  # every rfft mode of the token axis
        self.lift = nn.Linear(dim, width)
        self.spectral = nn.ModuleList(SpectralConv1d(width, width, modes) for _ in range(layers))
        self.skip = nn.ModuleList(nn.Conv1d(width, width, 1) for _ in range(layers))
        self.mlp = nn.ModuleList(
            nn.Sequential(nn.Conv1d(width, hidden, 1), nn.GELU(), nn.Conv1d(hidden, width, 1))
            for _ in range(layers)
        )
        self.act = nn.GELU()
        self.out = nn.Sequential(nn.LayerNorm(width), init_zero(nn.Linear(width, dim)))

    def forward(self, z: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        h = (self.lift(z) + cond[:, None, :]).transpose(1, 2)  # (B, W, T)
        for spec, skip, mlp in zip(self.spectral, self.skip, self.mlp, strict=True):
            h = h + mlp(self.act(spec(h).to(h.dtype) + skip(h)))
        return self.out(h.transpose(1, 2))


class SpectralPropagator(nn.Module):
    """A learned linear step on one frame: ``irfft(m(cond) * rfft(u))`` on the lowest modes.

    ``m_k(cond) = a_k + sum_j cond_j b_jk`` is complex per Fourier mode k and affine in the
    K conditioning features, stored as real ``(1 + K, modes, 2)`` weights. Zero-initialised,
    so a fresh path adds nothing. Modes above ``modes`` pass through it as zero.
    """

    def __init__(self, modes: int, cond_dim: int) -> None:
        super().__init__()
        self.modes = modes
        self.weight = nn.Parameter(torch.zeros(1 + cond_dim, modes, 2))

    def forward(self, u: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        # u: (B, X), cond: (B, K) -> (B, X); float32 FFTs, as in SpectralConv1d
        n = u.shape[-1]
        with torch.autocast(device_type=u.device.type, enabled=False):
            u_ft = torch.fft.rfft(u.float(), dim=-1)[..., : self.modes]  # (B, modes)
            feats = torch.cat([cond.float().new_ones(cond.shape[0], 1), cond.float()], dim=1)
            w = torch.view_as_complex(self.weight.float())  # (1 + K, modes)
            mult = torch.einsum("bk,km->bm", feats.to(w.dtype), w)  # (B, modes)
            return torch.fft.irfft(u_ft * mult, n=n, dim=-1).to(u.dtype)


class LatentSurrogate(Surrogate):
    """Conv encoder -> latent processor (one stored step) -> transposed-conv decoder."""

    def __init__(
        self,
        *,
        context: int,
        nx: int,
        cond: tuple[float, ...] | list[float] = (),
        dim: int,
        tokens: int,
        processor: str = "transformer",
        layers: int = 2,
        heads: int = 4,
        hidden: int = 64,
        ffn: int | None = None,
        width: int | None = None,
        linear_modes: int = 0,
        condition: bool = True,
    ) -> None:
        super().__init__(context=context, nx=nx, cond=cond)
        if nx % tokens:
            raise ValueError(f"tokens={tokens} must divide nx={nx}")
        if linear_modes > nx // 2 + 1:
            raise ValueError(f"linear_modes={linear_modes} exceeds the grid's {nx // 2 + 1} modes")
        stride = nx // tokens  # grid points per token
        self.condition_nu = condition  # the attribute's name in pickled models
        k = self.cond_dim
        c_in = context + (k if condition else 0)
        act = nn.GELU
        # (B, C(+1), X) -> (B, dim, tokens)
        self.encoder = nn.Sequential(
            circular_conv(c_in, hidden, 5),
            act(),
            circular_conv(hidden, hidden, 5),
            act(),
            nn.Conv1d(hidden, dim, kernel_size=stride, stride=stride),
        )
        # (B, dim, tokens) -> (B, 1, X)
        self.decoder = nn.Sequential(
            nn.ConvTranspose1d(dim, hidden, kernel_size=stride, stride=stride),
            act(),
            circular_conv(hidden, hidden, 5),
            act(),
            circular_conv(hidden, 1, 5),
        )
        # the latent state stays (tokens, dim); the processor works at `width` channels
        width = width or dim
        if processor == "transformer":
            self.processor: nn.Module = TransformerProcessor(
                tokens, dim, layers, heads, ffn or hidden, width
            )
        elif processor == "fno":
            self.processor = SpectralProcessor(tokens, dim, layers, ffn or hidden, width)
        elif processor == "mlp":
            self.processor = MLPProcessor(tokens, dim, layers, ffn or hidden)
        else:
            raise ValueError(f"unknown latent processor {processor!r}")
        # Only built when used: DDP refuses parameters that never receive a gradient.
        c = dim if processor == "mlp" else width  # the channels the processor adds it to
        self.nu_embed = (
            nn.Sequential(nn.Linear(k, c), act(), nn.Linear(c, c)) if condition else None
        )  # `nu_embed`: the name in pickled models; it embeds the whole conditioning vector
        self.linear = (
            SpectralPropagator(linear_modes, k if condition else 0) if linear_modes else None
        )

    def __setstate__(self, state: dict) -> None:  # a model pickled before `linear` existed
        super().__setstate__(state)
        self._modules.setdefault("linear", None)

    def _cond(self, u: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        """(B, W) conditioning embedding; (B, 1) zeros, broadcast over W, when not conditioning."""
        if self.nu_embed is None:
            return u.new_zeros(u.shape[0], 1)
        return self.nu_embed(self.conditioning(u, cond))

    def encode(self, u: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """(B, C, X) -> (B, tokens, dim)."""
        x = u
        if self.condition_nu:
            c = self.conditioning(u, cond)  # (B, K)
            x = torch.cat([u, c[:, :, None].expand(-1, -1, u.shape[-1])], dim=1)
        return self.encoder(x).transpose(1, 2)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """(B, tokens, dim) -> (B, X)."""
        return self.decoder(z.transpose(1, 2))[:, 0]

    def process(self, z: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """Advance the latent state by one stored time step: (B, T, D) -> (B, T, D)."""
        return z + self.processor(z, self._cond(z, cond))

    def reconstruct(self, u: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """decode(encode(u)): (B, C, X) -> (B, X), should match the newest frame u[:, -1]."""
        return self.decode(self.encode(u, cond))

    def forward(self, u: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        z = self.encode(u, cond)
        z_next = self.process(z, cond)
        both = self.decode(torch.cat([z_next, z], dim=0))  # one decoder pass for both states
        d_next, d_now = both.chunk(2, dim=0)
        out = u[:, -1] + d_next - d_now
        if self.linear is not None:
            c = self.conditioning(u, cond) if self.condition_nu else u.new_zeros(u.shape[0], 0)
            out = out + self.linear(u[:, -1], c)
        return out
