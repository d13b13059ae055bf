"""unisim: train, evaluate and manage neural PDE surrogates on MLflow.

Importing the package is cheap: torch and mlflow load only when a command needs them.
"""

from __future__ import annotations

try:
    from importlib.metadata import PackageNotFoundError, version

    __version__ = version("unisim")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0+local"

__all__ = ["__version__"]
