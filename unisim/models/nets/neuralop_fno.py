"""neuraloperator's ``FNO`` behind unisim's surrogate signature (see models/neuralop_fno.py)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from neuralop.models import FNO

from unisim.models.nets.base import Surrogate


class NeuralopFNO(Surrogate):
    def __init__(
        self,
        *,
        context: int,
        nx: int,
        cond: Sequence[float] = (),
        modes: int,
        width: int,
        layers: int,
        condition: bool = True,
    ) -> None:
        super().__init__(context=context, nx=nx, cond=cond)
        self.condition = condition
        c_in = context + (self.cond_dim if condition else 0)
        self.fno = FNO(
            n_modes=(2 * modes - 1,),  # neuralop keeps n_modes // 2 + 1 = modes rfft modes
            in_channels=c_in,
            out_channels=1,
            hidden_channels=width,
            n_layers=layers,
        )

    def state_dict(self, *args, **kwargs):  # type: ignore[no-untyped-def, override]
        # neuralop's FNO adds its init kwargs (functions among them) under "_metadata":
        # not weights, and not loadable with torch.load(weights_only=True).
        state = super().state_dict(*args, **kwargs)
        state.pop("_metadata", None)
        return state

    def forward(self, u: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        b, _, n = u.shape
        x = u
        if self.condition:
            c = self.conditioning(u, cond)  # (B, K)
            x = torch.cat([u, c[:, :, None].expand(b, c.shape[1], n)], dim=1)
        # float32 under autocast: bf16 FFTs are unsupported (unisim's FNO does the same)
        with torch.autocast(device_type=u.device.type, enabled=False):
            return u[:, -1] + self.fno(x.float())[:, 0].to(u.dtype)
