"""The unisim code a logged model needs, so it loads where unisim is not installed.

    with model_code() as paths:          # [".../unisim"]: a trimmed copy of the package
        run.log_model(model, ..., code_paths=paths)

A model is logged pickled (``training/api.py`` says why): unpickling imports its class
from ``unisim.models.nets``. MLflow copies ``code_paths`` into the model
(``model/code/unisim``) and puts that folder first on ``sys.path`` when it loads the
model, so ``mlflow.pytorch.load_model`` works with torch, numpy and mlflow alone. The
copy holds the package root (``__init__``, ``errors``) and ``unisim/models/`` (Python
files only, about 100 kB), not the whole package.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]  # .../unisim
FILES = ("__init__.py", "errors.py")
TREES = ("models",)


@contextlib.contextmanager
def model_code() -> Iterator[list[str]]:
    """A temporary trimmed copy of the ``unisim`` package, as MLflow ``code_paths``."""
    with tempfile.TemporaryDirectory(prefix="unisim-model-code-") as tmp:
        dest = Path(tmp) / "unisim"
        dest.mkdir()
        for name in FILES:
            shutil.copy2(PACKAGE / name, dest / name)
        for tree in TREES:
            for src in (PACKAGE / tree).rglob("*.py"):
                target = dest / src.relative_to(PACKAGE)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, target)
        yield [str(dest)]
