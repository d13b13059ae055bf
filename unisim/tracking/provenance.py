"""Reproducibility tags every run carries: git commit and dirty flag, library versions.

tags = {**git_info(Path("experiments/2026-11-29-x")), **version_tags()}
experiment_dir_of("experiments/2026-11-29-x/config.yaml")  # "experiments/2026-11-29-x"
"""

from __future__ import annotations

import contextlib
import platform
import subprocess
from pathlib import Path

from unisim.tracking.schema import TAG_GIT_COMMIT, TAG_GIT_DIRTY


def git_info(path: Path | None = None) -> dict[str, str]:
    """Commit and dirty flag of the repository holding ``path`` (empty outside git)."""
    cwd = str(path or Path.cwd())
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10
        )
        if commit.returncode:
            return {}
        dirty = subprocess.run(
            # untracked files count (an edited, never-committed experiment config is a
            # change); ignored ones (mlruns/, data/cache/, reports/) do not
            ["git", "status", "--porcelain", "--untracked-files=normal"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return {}
    return {
        TAG_GIT_COMMIT: commit.stdout.strip(),
        TAG_GIT_DIRTY: "true" if dirty.stdout.strip() else "false",
    }


def version_tags() -> dict[str, str]:
    """``unisim.<package>_version`` for python, unisim, torch, mlflow and numpy."""
    from importlib.metadata import PackageNotFoundError, version

    tags = {"unisim.python_version": platform.python_version()}
    for pkg in ("unisim", "torch", "mlflow", "numpy"):
        with contextlib.suppress(PackageNotFoundError):
            tags[f"unisim.{pkg}_version"] = version(pkg)
    return tags


def experiment_dir_of(config_path: str | Path | None) -> str | None:
    """Repo-relative ``experiments/NAME`` for a config inside an experiment folder."""
    if config_path is None:
        return None
    path = Path(config_path).resolve()
    if path.parent.parent.name in ("experiments", "experiments-archive"):
        return f"{path.parent.parent.name}/{path.parent.name}"
    return None
