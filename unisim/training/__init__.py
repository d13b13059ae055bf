"""Training: the loop, checkpoints, resume, torchrun, and ``train_model`` (MLflow-logged).

    from unisim.training import train_model, TrainResult
    result = train_model(cfg, config_path)          # one MLflow run of kind "train"

Importing this package is cheap; torch loads when a name is first used.
"""

from __future__ import annotations

from typing import Any

__all__ = ["TrainResult", "train_model"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from unisim.training import api

        return getattr(api, name)
    raise AttributeError(f"module 'unisim.training' has no attribute {name!r}")
