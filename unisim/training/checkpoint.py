"""Checkpoints: one dict per file, written atomically (tmp file + fsync + rename).

    save_checkpoint(path, state)                    # state: see Trainer.state_dict()
    state = load_checkpoint(path)                   # dict, tensors on the CPU
    model, cfg = load_model_from_checkpoint(path)   # eval-mode model (EMA weights if any)
    path = find_resume_checkpoint(directory, config_hash)   # newest of last.pt / best.pt

A checkpoint holds: ``model``, ``ema`` (or None), ``optimizer``, ``scheduler``,
``epoch`` and ``step`` (completed), ``best_val_nrmse``/``best_epoch``,
``bad_epochs``, ``history`` (one metric dict per epoch), ``rng`` states,
``config`` (resolved, as a dict), ``config_hash``, ``data_hash``, ``run_id``,
``elapsed_s``, ``finished``. Everything is a tensor or plain Python, so it loads
with ``torch.load(weights_only=True)``.

Where they live: ``experiments/NAME/checkpoints/`` for a config inside an
experiment folder, else ``checkpoints/<config_hash>/`` under the current folder.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from unisim.config import Config, build_stored_config, config_hash
from unisim.errors import UnisimError
from unisim.fsutil import atomic_path

if TYPE_CHECKING:
    from torch import nn

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
LAST, BEST = "last.pt", "best.pt"
REQUIRED = ("format_version", "model", "config", "config_hash", "epoch")


def checkpoint_dir(cfg: Config, config_path: str | Path | None = None) -> Path:
    """``experiments/NAME/checkpoints`` beside an experiment's config, else ``checkpoints/HASH``."""
    if config_path is not None:
        path = Path(config_path).resolve()
        if path.parent.parent.name in ("experiments", "experiments-archive"):
            return path.parent / "checkpoints"
    return Path.cwd() / "checkpoints" / config_hash(cfg)


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Write ``state`` atomically: a reader sees the old file or the new one, never half."""
    path = Path(path)
    state = {"format_version": FORMAT_VERSION, **state}
    with atomic_path(path, suffix=".pt") as tmp:
        torch.save(state, tmp)
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint; an unreadable or foreign file is a one-line UnisimError."""
    path = Path(path)
    if not path.is_file():
        raise UnisimError(f"{path}: checkpoint not found")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # truncated file, not a torch file, pickled objects
        raise UnisimError(
            f"{path}: not a readable unisim checkpoint ({type(exc).__name__})"
        ) from None
    missing = [k for k in REQUIRED if not isinstance(state, dict) or k not in state]
    if missing:
        raise UnisimError(f"{path}: not a unisim checkpoint (missing {', '.join(missing)})")
    if state["format_version"] > FORMAT_VERSION:
        raise UnisimError(
            f"{path}: checkpoint format {state['format_version']} is newer than this unisim "
            f"({FORMAT_VERSION}); upgrade unisim"
        )
    return state


def checkpoint_config(state: dict[str, Any], path: str | Path = "<checkpoint>") -> Config:
    """The resolved config stored in a checkpoint."""
    return build_stored_config(state["config"], source=f"{path}:config")


def load_model_from_checkpoint(
    path: str | Path, device: str | torch.device = "cpu"
) -> tuple[nn.Module, Config]:
    """Rebuild the model from a checkpoint: eval mode, EMA weights when the run used EMA."""
    from unisim.models import build_model

    state = load_checkpoint(path)
    cfg = checkpoint_config(state, path)
    model = build_model(cfg)
    weights = state.get("ema") or state["model"]
    model.load_state_dict(weights)
    return model.to(device).eval(), cfg


def _peek(path: Path) -> dict[str, Any] | None:
    try:
        return load_checkpoint(path)
    except UnisimError as exc:
        log.warning("ignoring %s", exc)
        return None


def find_resume_checkpoint(
    directory: Path, cfg_hash: str, run_id: str | None = None
) -> tuple[Path, dict[str, Any]]:
    """The newest checkpoint (by epoch) in ``directory`` for this config; one-line errors.

    Raises UnisimError when there is none, when it was written by a different
    config (hash mismatch) or, with ``run_id``, by a different run.
    """
    found = [(p, s) for p in (directory / LAST, directory / BEST) if p.is_file() if (s := _peek(p))]
    if not found:
        others = []
        if directory.parent.name == "checkpoints":  # the checkpoints/<config_hash>/ layout
            others = sorted(p.parent.name for p in directory.parent.glob(f"*/{LAST}"))
        hint = f" (checkpoints exist for config hashes: {', '.join(others)})" if others else ""
        raise UnisimError(
            f"--resume: no checkpoint for config hash {cfg_hash} in {directory}{hint}"
        )
    path, state = max(found, key=lambda ps: (ps[1]["epoch"], ps[0].name == LAST))
    if state["config_hash"] != cfg_hash:
        raise UnisimError(
            f"--resume: {path} was written by config hash {state['config_hash']}, this config "
            f"has {cfg_hash}; the config changed since (train without --resume)"
        )
    if run_id is not None and state.get("run_id") != run_id:
        raise UnisimError(
            f"--resume-run {run_id}: the newest checkpoint {path} belongs to run "
            f"{state.get('run_id')}"
        )
    return path, state
