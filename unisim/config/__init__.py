"""The typed config tree: defaults -> YAML (with ``include:``) -> ``key=value`` overrides.

    from unisim.config import load_config, to_yaml, flatten, config_hash
    cfg = load_config("configs/train_burgers_golden.yaml", ["training.lr=3e-4"])
    to_yaml(cfg); flatten(cfg); config_hash(cfg)

A facade over the package's modules; every name below imports from here:

- ``schema``: the sections (``Config``, ``DataConfig``, ``GateConfig``, ...); ``model`` is
  a discriminated union on ``model.name`` over the architectures of ``unisim/models``
  (``MODEL_NAMES``), each config class beside its builder;
- ``loader``: ``load_config``, ``build_config``, ``build_stored_config`` (configs that
  runs stored), ``parse_override``; one-line ``ConfigError`` messages;
- ``export``: ``to_dict``, ``to_yaml``, ``flatten``, hashes, ``json_schema``,
  ``experiment_name``;
- ``diff``: ``diff_configs``, ``ConfigDiff``; ``memory``: the data size estimate.

Names are imported on first use: the architecture modules import ``unisim.config.base``
while the schema is being built from them, so this package must not build the schema
when it is imported. Nothing here imports torch or mlflow.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from unisim.errors import ConfigError

if TYPE_CHECKING:
    from unisim.config.diff import ConfigDiff, diff_configs
    from unisim.config.export import (
        HASHED_SECTIONS,
        PARAM_VALUE_LIMIT,
        config_hash,
        content_hash,
        data_config_hash,
        experiment_name,
        flatten,
        json_schema,
        to_dict,
        to_yaml,
    )
    from unisim.config.loader import (
        build_config,
        build_stored_config,
        dropped_sections,
        load_config,
        parse_override,
    )
    from unisim.config.schema import (
        MODEL_NAMES,
        Config,
        DataConfig,
        EvaluationConfig,
        GateConfig,
        GatesConfig,
        InitialConditionConfig,
        ModelConfig,
        PhysicsGatesConfig,
        RegistryConfig,
        TrackingConfig,
        TrainingConfig,
        VastConfig,
    )
    from unisim.models.fno import FNOConfig
    from unisim.models.latent import LatentConfig

_EXPORTS = {
    **dict.fromkeys(
        ("MODEL_NAMES", "Config", "DataConfig", "EvaluationConfig", "GateConfig",
         "GatesConfig", "InitialConditionConfig", "ModelConfig", "PhysicsGatesConfig",
         "RegistryConfig", "TrackingConfig", "TrainingConfig", "VastConfig"),
        "unisim.config.schema",
    ),
    **dict.fromkeys(
        ("build_config", "build_stored_config", "dropped_sections", "load_config",
         "parse_override"),
        "unisim.config.loader",
    ),
    **dict.fromkeys(
        ("HASHED_SECTIONS", "PARAM_VALUE_LIMIT", "config_hash", "content_hash",
         "data_config_hash", "experiment_name", "flatten", "json_schema", "to_dict", "to_yaml"),
        "unisim.config.export",
    ),
    "ConfigDiff": "unisim.config.diff",
    "diff_configs": "unisim.config.diff",
    # the architectures' sections, importable from here as before they moved
    "LatentConfig": "unisim.models.latent",
    "FNOConfig": "unisim.models.fno",
}  # fmt: skip

__all__ = [  # = _EXPORTS + ConfigError (a test holds them equal)
    "HASHED_SECTIONS",
    "MODEL_NAMES",
    "PARAM_VALUE_LIMIT",
    "Config",
    "ConfigDiff",
    "ConfigError",
    "DataConfig",
    "EvaluationConfig",
    "FNOConfig",
    "GateConfig",
    "GatesConfig",
    "InitialConditionConfig",
    "LatentConfig",
    "ModelConfig",
    "PhysicsGatesConfig",
    "RegistryConfig",
    "TrackingConfig",
    "TrainingConfig",
    "VastConfig",
    "build_config",
    "build_stored_config",
    "config_hash",
    "content_hash",
    "data_config_hash",
    "diff_configs",
    "dropped_sections",
    "experiment_name",
    "flatten",
    "json_schema",
    "load_config",
    "parse_override",
    "to_dict",
    "to_yaml",
]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
