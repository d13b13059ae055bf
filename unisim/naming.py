"""Run names that tell runs apart in the MLflow UI and the registry's "Source Run".

    from unisim.naming import pipeline_run_name
    pipeline_run_name(cfg, "experiments/2026-11-29-wide/config.yaml", ["model.latent.dim=8"],
                      "2026-11-29-wide")      # "2026-11-29-wide latent.dim=8 3f2c9a1"
    train_run_name(seed=1, n_seeds=3)         # "train-seed-1" ("train" with one seed)
    evaluate_run_name("val")                  # "evaluate-val"

A pipeline run is named ``<experiment> <what differs> <config hash, 7 chars>``. What
differs: the ``--set`` overrides, else, for an experiment folder made by ``unisim
experiments new --from BASE`` (``metadata.json`` ``base_config``), the keys whose values
differ from BASE (the identity keys ``name``, ``description``, ``tracking.*`` and the
evaluation/gate/registry/vast settings left out: they do not change the model). At most
three items are spelt out, then ``+N``. ``tracking.run_name`` in the config wins.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from unisim.config import Config, config_hash

log = logging.getLogger(__name__)

MAX_ITEMS = 3
MAX_NAME = 250  # MLflow's limit on run names
_IGNORED = ("name", "description", "tracking.", "evaluation.", "gates.", "registry.", "vast.")


def short_key(key: str) -> str:
    """``model.latent.dim`` -> ``latent.dim``; ``training.lr`` -> ``lr``; ``seed`` -> ``seed``."""
    parts = key.split(".")
    return ".".join(parts[-2:]) if parts[0] == "model" and len(parts) > 2 else parts[-1]


def _override_items(overrides: list[str]) -> list[str]:
    items = []
    for item in overrides:
        key, sep, value = item.partition("=")
        if sep:
            items.append(f"{short_key(key.strip())}={value.strip()}")
    return items


def base_config_of(config_path: str | Path | None) -> Path | None:
    """The config an experiment folder was started from (its metadata.json), if still there."""
    if config_path is None:
        return None
    meta = Path(config_path).parent / "metadata.json"
    try:
        base = json.loads(meta.read_text(encoding="utf-8")).get("base_config")
    except (OSError, ValueError, AttributeError):
        return None
    path = Path(base) if base else None
    return path if path is not None and path.is_file() else None


def _base_items(config_path: str | Path | None) -> list[str]:
    from unisim.config import diff_configs
    from unisim.errors import UnisimError

    base = base_config_of(config_path)
    if base is None or config_path is None:
        return []
    try:
        diff = diff_configs(base, config_path)
    except UnisimError as exc:  # a base that no longer loads: name the run without it
        log.info("run name: base config %s: %s", base, exc)
        return []
    return [
        f"{short_key(key)}={b}"
        for key, _, b in diff.rows
        if b is not None and not key.startswith(_IGNORED)
    ]


def pipeline_run_name(
    cfg: Config, config_path: str | Path | None, overrides: list[str], experiment: str
) -> str:
    """``<experiment> <what differs> <hash7>`` (see the module docstring)."""
    if cfg.tracking.run_name:
        return cfg.tracking.run_name
    items = _override_items(overrides) or _base_items(config_path)
    parts = [experiment]
    if items:
        extra = f",+{len(items) - MAX_ITEMS}" if len(items) > MAX_ITEMS else ""
        parts.append(",".join(items[:MAX_ITEMS]) + extra)
    parts.append(config_hash(cfg)[:7])
    name = " ".join(parts)
    return name if len(name) <= MAX_NAME else name[: MAX_NAME - 1] + "…"


def train_run_name(seed: int | None = None, n_seeds: int = 1) -> str:
    """``train``, or ``train-seed-N`` when the pipeline trains several seeds."""
    return f"train-seed-{seed}" if n_seeds > 1 and seed is not None else "train"


def evaluate_run_name(split: str) -> str:
    return f"evaluate-{split}"
