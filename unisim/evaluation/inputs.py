"""What an evaluation decides before any run opens: source, config, data, trajectories.

    x = prepare(store, "3f2a...", cfg=None, config_path=None, overrides=None, split="val",
                stage=None, splits=None)
    x.loaded, x.cfg, x.traj, x.indices, x.selection, x.data_hash

Bad input (an unknown split, a model without a config, a gate naming an unknown
metric, an empty split) fails here, so nothing has been written yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from unisim.errors import ConfigError, UnisimError
from unisim.evaluation.champion import Selection
from unisim.evaluation.engine import KNOWN_METRICS
from unisim.evaluation.rollout import pick_device
from unisim.evaluation.sources import LoadedModel, load_source, model_grid

if TYPE_CHECKING:
    from unisim.config import Config
    from unisim.data import Splits
    from unisim.tracking import Store

SPLITS = ("val", "test", "heldout")
STAGES = ("fast", "full")
# What the model is told about each trajectory's coefficients: the truth, or the nearest
# coefficients it was trained on (what a model that cannot interpolate would need).
CONDITION_ON = ("true", "nearest-train")


def check_gate_metrics(cfg: Config) -> None:
    """Every metric a gate names must be one evaluation produces (typos fail at once).

    ``load_config`` checks this already; a stored config (``build_stored_config``) may
    name a metric evaluation no longer produces, and is caught here.
    """
    for i, gate in enumerate(cfg.gates.metrics):
        if gate.metric not in KNOWN_METRICS:
            known = ", ".join(KNOWN_METRICS)
            raise ConfigError(
                f"gates.metrics.{i}.metric: unknown metric {gate.metric!r} (known: {known})"
            )


def select_trajectories(
    splits: Any, split: str, stage: str, cfg: Config
) -> tuple[np.ndarray, np.ndarray]:
    """(N, nt, X) of the split and their (N,) positions in it; the fast stage keeps every
    k-th, at most ``fast_max_samples``."""
    traj = getattr(splits, split, None)
    if traj is None:
        raise UnisimError(f"split {split!r}: not loaded")
    traj = np.asarray(traj)
    index = np.arange(traj.shape[0])
    if stage == "fast":
        keep = slice(None, None, cfg.evaluation.fast_stride)
        traj, index = traj[keep], index[keep]
        cap = cfg.evaluation.fast_max_samples
        traj, index = traj[:cap], index[:cap]
    if traj.ndim != 3 or traj.shape[0] == 0:
        raise UnisimError(f"split {split!r}: no trajectories to evaluate (shape {traj.shape})")
    return traj, index


def check_grid(what: str, cfg: Config, nx: int | None, context: int) -> None:
    """The grid the config's data section makes must be the model's (GridMismatch, exit 2)."""
    from unisim.evaluation.engine import GridMismatch

    data_nx = cfg.data.nx // cfg.data.downsample_x
    data_nt = (cfg.data.nt - 1) // cfg.data.downsample_t + 1
    if nx is not None and nx != data_nx:
        raise GridMismatch(
            f"{what}: model expects nx={nx} but the config's data has nx={data_nx} "
            f"(data.nx={cfg.data.nx}, data.downsample_x={cfg.data.downsample_x}); "
            f"nothing was generated"
        )
    if context >= data_nt:
        raise GridMismatch(
            f"{what}: model context {context} leaves no step to predict (nt={data_nt})"
        )


def _resolve_cfg(
    loaded: LoadedModel,
    cfg: Config | None,
    config_path: str | Path | None,
    overrides: list[str] | None,
) -> Config:
    """The evaluation config: ``cfg`` > ``config_path`` > the model's own; then overrides."""
    from unisim.config import build_config, load_config, to_dict

    if cfg is None and config_path is not None:
        return load_config(config_path, overrides)
    cfg = cfg or loaded.cfg
    if cfg is None:
        raise UnisimError(f"{loaded.source}: the model has no config; pass --config")
    if overrides:
        cfg = build_config(to_dict(cfg), overrides, source=f"{loaded.source} config")
    return cfg


@dataclass
class Inputs:
    """Everything an evaluation decides before any run is opened (bad input fails here)."""

    source: str
    loaded: LoadedModel
    cfg: Config
    splits: Splits
    traj: np.ndarray  # (N, nt, X) the selected trajectories
    indices: np.ndarray  # (N,) their positions in the split
    split: str
    stage: str
    selection: Selection
    data_hash: str
    device: Any
    cond: np.ndarray | None  # (N, K) conditioning vectors the model is told
    coeffs: np.ndarray | None  # (N, C) the trajectories' true coefficients
    context: int
    condition_on: str = "true"


def prepare(
    store: Store,
    source: str,
    *,
    cfg: Config | None,
    config_path: str | Path | None,
    overrides: list[str] | None,
    split: str,
    stage: str | None,
    splits: Any,
    condition_on: str = "true",
) -> Inputs:
    from unisim.data import load_data, load_heldout

    if condition_on not in CONDITION_ON:
        raise UnisimError(
            f"--condition-on {condition_on!r}: must be one of {', '.join(CONDITION_ON)}"
        )
    if split not in SPLITS:
        raise UnisimError(f"--split {split!r}: must be one of {', '.join(SPLITS)}")
    stage = stage or ("fast" if split == "val" else "full")
    if stage not in STAGES:
        raise UnisimError(f"stage {stage!r}: must be one of {', '.join(STAGES)}")
    loaded = load_source(source, store)
    cfg = _resolve_cfg(loaded, cfg, config_path, overrides)
    check_gate_metrics(cfg)
    nx, context = model_grid(loaded)
    if splits is None:  # refuse a grid the model does not fit before generating its data
        check_grid(loaded.source, cfg, nx, context)
    if splits is None:  # read only what this evaluation looks at (a fast one never sees test)
        needed = {split} & {"train", "val", "test"}
        if condition_on == "nearest-train":
            needed.add("train")
        splits = load_data(cfg.data, splits=tuple(sorted(needed)))
    if split == "heldout" and getattr(splits, "heldout", None) is None:
        splits = load_heldout(cfg.data, splits)
    selection = Selection(split, stage, *(
        (cfg.evaluation.fast_stride, cfg.evaluation.fast_max_samples)
        if stage == "fast" else (1, None)
    ), condition_on=condition_on)  # fmt: skip
    traj, indices = select_trajectories(splits, split, stage, cfg)
    return Inputs(
        source=source,
        loaded=loaded,
        cfg=cfg,
        splits=splits,
        traj=traj,
        indices=indices,
        split=split,
        stage=stage,
        selection=selection,
        data_hash=str(splits.data_hash),
        device=pick_device(cfg.evaluation.device),
        cond=_conditioning(splits, split, indices, condition_on),
        coeffs=_coefficients(splits, split, indices),
        context=context,
        condition_on=condition_on,
    )


def _coefficients(splits: Any, split: str, indices: np.ndarray) -> np.ndarray | None:
    coeffs = getattr(splits, "coeffs", None)
    if not coeffs or split not in coeffs:
        return None
    return np.asarray(coeffs[split])[indices]


def nearest_train(splits: Any, coeffs: np.ndarray) -> np.ndarray:
    """For each row of ``coeffs`` (N, C), the training coefficients nearest to it, measured
    in the conditioning space (normalised by the PDE spec): (N, C)."""
    pde = splits.pde
    seen = np.unique(np.asarray(splits.coeffs["train"]), axis=0)  # (M, C)
    a, b = pde.conditioning(coeffs), pde.conditioning(seen)  # (N, K), (M, K)
    nearest = np.argmin(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1), axis=1)
    return seen[nearest]


def _conditioning(
    splits: Any, split: str, indices: np.ndarray, condition_on: str
) -> np.ndarray | None:
    coeffs = _coefficients(splits, split, indices)
    if coeffs is None:
        return None
    if condition_on == "nearest-train":
        coeffs = nearest_train(splits, coeffs)
    return splits.pde.conditioning(coeffs)
