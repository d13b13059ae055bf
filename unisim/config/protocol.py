"""The protocol fingerprint: what must match for two nRMSE figures to be comparable.

    from unisim.config.protocol import protocol
    tag, summary = protocol(cfg)                 # ("3f2a9c1d0b7e", "burgers nu=0.01 | ...")
    protocol(cfg, split="heldout")               # another split is another protocol

Covers the PDE and its coefficients (the draws, and held-out overrides when scored on the
held-out split), the grid (stored points and times, time span, solver grid, strides), the
split selection (sizes, data seed, source file), context frames, rollout horizon and the
metric definition version. Not the model, the training or the gates: those are what the
numbers compare. Logged as the ``unisim.protocol`` and ``unisim.protocol_summary`` tags on
every train, evaluate and pipeline run. Imports neither torch nor mlflow.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from unisim.config.schema import Config

METRIC_VERSION = "nrmse-pdebench-corrected/1"  # per-sample RMSE_x / RMS_x, context excluded


def _draw_text(draw: Any) -> str:
    if hasattr(draw, "log_uniform"):
        lo, hi = draw.log_uniform
        return f"logU[{lo:g},{hi:g}]"
    if isinstance(draw, tuple):
        return "{" + ",".join(f"{v:g}" for v in draw) + "}"
    return f"{float(draw):g}"


def protocol_fields(cfg: Config, split: str = "test", condition_on: str = "true") -> dict:
    d = cfg.data
    pde = d.pde
    spec = d.heldout_spec if split == "heldout" else d.equation
    nt = (d.nt - 1) // d.downsample_t + 1
    return {
        "pde": pde.name,
        "coefficients": {c.name: _draw_text(getattr(spec, c.name)) for c in pde.coefficients},
        "equation": spec.model_dump(mode="json", exclude={c.name for c in pde.coefficients}),
        "grid": {
            "nx": d.nx // d.downsample_x,
            "nt": nt,
            "t_final": d.t_final,
            "solver_nx": d.solver_nx if d.source == "generate" else None,
            "downsample": [d.downsample_x, d.downsample_t],
        },
        "splits": {
            "split": split,
            "source": d.source if d.source == "generate" else Path(d.path or "").name,
            "seed": d.seed,
            "sizes": [d.n_train, d.n_val, d.n_test] + ([d.n_heldout] if split == "heldout" else []),
        },
        "context": cfg.model.context,
        "horizon": nt - cfg.model.context,
        "condition_on": condition_on,
        "metric": METRIC_VERSION,
    }


def protocol(cfg: Config, split: str = "test", condition_on: str = "true") -> tuple[str, str]:
    """(12-hex-char fingerprint, one readable line) of ``cfg``'s evaluation protocol."""
    fields = protocol_fields(cfg, split, condition_on)
    blob = json.dumps(fields, sort_keys=True, separators=(",", ":"))
    tag = hashlib.sha256(blob.encode()).hexdigest()[:12]
    coeffs = " ".join(f"{k}={v}" for k, v in fields["coefficients"].items())
    g, s = fields["grid"], fields["splits"]
    told = "" if condition_on == "true" else f" | told {condition_on}"
    summary = (
        f"{fields['pde']} {coeffs} | {g['nx']}x{g['nt']} t<={g['t_final']:g} | "
        f"ctx {fields['context']}, {fields['horizon']} steps | {split} of "
        f"{'/'.join(str(n) for n in s['sizes'])} seed {s['seed']} | {METRIC_VERSION}{told}"
    )
    return tag, summary
