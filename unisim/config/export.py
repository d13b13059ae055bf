"""What a validated config turns into: a dict, YAML, MLflow params, content hashes.

    to_yaml(cfg)                 # the resolved config.yaml a run stores
    flatten(cfg)                 # {"model.latent.dim": "16", ...}: MLflow params
    config_hash(cfg)             # 16 hex chars over seed, data, model and training
    experiment_name("experiments/2026-11-29-wide/config.yaml", cfg)   # -> "2026-11-29-wide"

A config dumps only the section of its own architecture (``model.latent`` for a latent
model), so the params and the hash do not depend on which other architectures exist.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from unisim.config.schema import Config, DataConfig

PARAM_VALUE_LIMIT = 6000  # MLflow refuses longer param values
# Sections that decide the trained weights. Evaluation, gates, tracking, registry
# and vast settings do not, so changing a gate does not force a retrain.
HASHED_SECTIONS = ("seed", "data", "model", "training")
UNHASHED_KEYS = {"training": ("threads",)}  # how a run is executed, not what it trains


def to_dict(cfg: Config) -> dict[str, Any]:
    return cfg.model_dump(mode="json")


def to_yaml(cfg: Config) -> str:
    return yaml.safe_dump(to_dict(cfg), sort_keys=False)


def flatten(cfg: Config | dict[str, Any], prefix: str = "") -> dict[str, str]:
    """Dotted keys -> string values, for MLflow params (``model.latent.dim -> "16"``)."""
    data = cfg.model_dump(mode="json") if isinstance(cfg, BaseModel) else cfg
    out: dict[str, str] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flatten(value, prefix=f"{name}."))
            continue
        text = value if isinstance(value, str) else json.dumps(value)
        if len(text) > PARAM_VALUE_LIMIT:
            digest = hashlib.sha256(text.encode()).hexdigest()[:12]
            text = f"{text[: PARAM_VALUE_LIMIT - 40]}...[truncated sha256:{digest}]"
        out[name] = text
    return out


def content_hash(obj: Any) -> str:
    """Stable 16-hex-char hash of a JSON-serialisable object."""
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _hashed_data(data: dict[str, Any]) -> dict[str, Any]:
    """The data section as hashed: without ``cache_dir``, ``n_heldout`` and
    ``heldout_coefficients`` (the held-out set is a file of its own), and a plain Burgers
    equation spelled as before ``data.equation`` (``nu``, ``ic``), so data and runs made
    before keep their hashes."""
    data = {
        k: v for k, v in data.items() if k not in ("cache_dir", "n_heldout", "heldout_coefficients")
    }
    eq = data.get("equation") or {}
    ic = eq.get("ic") or {}
    if (
        eq.get("name") == "burgers"
        and isinstance(eq.get("nu"), (int, float))
        and eq.get("step_factor") == 1.0
        and ic.get("kind") == "init_multi"
        and not ic.get("normalize")
    ):
        data.pop("equation")
        data["nu"] = eq["nu"]
        data["ic"] = {k: v for k, v in ic.items() if k not in ("kind", "normalize")}
    return data


def config_hash(cfg: Config) -> str:
    """Stable content hash of what determines the trained model (16 hex chars)."""
    data = to_dict(cfg)
    sections = {k: data[k] for k in HASHED_SECTIONS}
    sections["data"] = _hashed_data(sections["data"])
    sections["data"]["cache_dir"] = data["data"]["cache_dir"]  # hashed as before
    model = dict(sections["model"])
    model["condition_nu"] = model.pop("condition")  # its name before the PDE seam
    latent = model.get("latent")
    if isinstance(latent, dict) and not latent.get("linear_modes"):  # off: hashed as before it
        model["latent"] = {k: v for k, v in latent.items() if k != "linear_modes"}
    sections["model"] = model
    for section, keys in UNHASHED_KEYS.items():
        sections[section] = {k: v for k, v in sections[section].items() if k not in keys}
    return content_hash(sections)


def data_config_hash(data: DataConfig) -> str:
    """Hash of the data section without settings that do not change the bytes."""
    return content_hash(_hashed_data(data.model_dump(mode="json")))


def json_schema() -> dict[str, Any]:
    return Config.model_json_schema()


def experiment_name(config_path: str | Path | None, cfg: Config) -> str:
    """``experiments/NAME/config.yaml`` -> ``NAME``; anything else -> ``tracking.experiment``."""
    if config_path is not None:
        path = Path(config_path).resolve()
        if path.parent.parent.name in ("experiments", "experiments-archive"):
            return path.parent.name
    return cfg.tracking.experiment
