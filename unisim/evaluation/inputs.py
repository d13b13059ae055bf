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
    from unisim.data import BurgersSplits
    from unisim.tracking import Store

SPLITS = ("val", "test")
STAGES = ("fast", "full")


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
    traj = np.asarray(getattr(splits, split))
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
    splits: BurgersSplits
    traj: np.ndarray  # (N, nt, X) the selected trajectories
    indices: np.ndarray  # (N,) their positions in the split
    split: str
    stage: str
    selection: Selection
    data_hash: str
    device: Any
    nu: float | None
    context: int


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
) -> Inputs:
    from unisim.data import load_data

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
    splits = splits if splits is not None else load_data(cfg.data)
    selection = Selection(split, stage, *(
        (cfg.evaluation.fast_stride, cfg.evaluation.fast_max_samples)
        if stage == "fast" else (1, None)
    ))  # fmt: skip
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
        nu=float(splits.nu) if getattr(splits, "nu", None) is not None else None,
        context=context,
    )
