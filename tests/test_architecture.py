"""The boundaries DESIGN.md draws, checked on the source tree (fails on a new leak)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "unisim"


def mlflow_imports(path: Path) -> list[str]:
    """``file:line`` of every import of mlflow (top level, lazy or TYPE_CHECKING) in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        if any(n == "mlflow" or n.startswith("mlflow.") for n in names):
            found.append(f"{path}:{node.lineno}")
    return found


def leaks(root: Path) -> list[str]:
    """mlflow imports in ``root`` outside its ``tracking/`` package."""
    out = []
    for path in sorted(root.rglob("*.py")):
        if "tracking" not in path.relative_to(root).parts[:1]:
            out += mlflow_imports(path)
    return out


def test_only_the_tracking_package_imports_mlflow():
    assert leaks(PACKAGE) == []
    assert mlflow_imports(PACKAGE / "tracking" / "client.py")  # the scan does see imports


@pytest.mark.parametrize(
    "source",
    [
        "import mlflow\n",
        "from mlflow.entities import Run\n",
        "def f():\n    import mlflow.pytorch\n",
        "if TYPE_CHECKING:\n    from mlflow import MlflowClient\n",
    ],
)
def test_the_check_fails_on_a_new_leak(tmp_path, source):
    (tmp_path / "tracking").mkdir()
    (tmp_path / "tracking" / "ok.py").write_text("import mlflow\n")
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "leak.py").write_text(source)
    assert [Path(p.rsplit(":", 1)[0]).name for p in leaks(tmp_path)] == ["leak.py"]


def test_ruff_bans_mlflow_outside_tracking(tmp_path):
    """The same rule runs in `make test`'s lint step (ruff TID251, configured in pyproject)."""
    import shutil
    import subprocess
    import sys

    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    shutil.copy(PACKAGE.parent / "pyproject.toml", tmp_path / "pyproject.toml")
    for rel in ("unisim/reports/leak.py", "unisim/tracking/ok.py", "tests/test_ok.py"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("import mlflow\n\nmlflow.active_run()\n")
    proc = subprocess.run(
        [ruff, "check", "--no-cache", "--select", "TID251", "."],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    flagged = {ln.split()[-1] for ln in proc.stdout.splitlines() if ln.strip().startswith("-->")}
    assert flagged == {"unisim/reports/leak.py:1:8"}, proc.stdout
