"""Run artifacts and logged models: list, read, download, load.

store.read_text(run_id, "config.yaml")       # None when the run has no such file
store.read_json(run_id, "report.json")
store.artifact_paths(run_id)                 # breadth first, folders end with "/"
store.copy_artifact(src_run, "plots/a.png", dst_run, "plots")
model = store.load_model("runs:/<id>/model")  # a torch module (UnisimError if not loadable)
store.logged_model_id(run)                   # MLflow 3 LoggedModel id of runs:/<id>/model
store.fail_pending_models(run_id, exp_id)    # PENDING models of an ended run -> FAILED
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from unisim.errors import UnisimError

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Run

MODEL_ARTIFACT = "model"  # the name TrackedRun.log_model gives a run's model
MAX_ARTIFACTS = 200


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]


class Artifacts:
    """Artifact and model access (a mixin of ``Store``)."""

    client: MlflowClient

    def list_artifacts(self, run_id: str, path: str | None = None) -> list[tuple[str, bool]]:
        """``(path, is_dir)`` of the entries directly under ``path``."""
        return [(f.path, f.is_dir) for f in self.client.list_artifacts(run_id, path)]

    def has_artifact(self, run_id: str, path: str) -> bool:
        folder = str(Path(path).parent) if "/" in path else None
        return any(p == path for p, _ in self.list_artifacts(run_id, folder))

    def artifact_paths(self, run_id: str, limit: int = MAX_ARTIFACTS) -> list[str]:
        """Artifact paths, breadth first, at most ``limit`` (folders end with /)."""
        out: list[str] = []
        queue: list[str | None] = [None]
        while queue and len(out) < limit:
            path = queue.pop(0)
            try:
                entries = self.list_artifacts(run_id, path)
            except Exception:  # an unreachable artifact store must not hide the rest
                break
            for entry, is_dir in entries:
                out.append(entry + ("/" if is_dir else ""))
                if is_dir:
                    queue.append(entry)
        return sorted(out[:limit])

    def read_text(self, run_id: str, path: str) -> str | None:
        """The artifact's text, or None when the run has no artifact at ``path``."""
        if not self.has_artifact(run_id, path):
            return None
        with tempfile.TemporaryDirectory(prefix="unisim-artifact-") as tmp:
            local = self.client.download_artifacts(run_id, path, tmp)
            return Path(local).read_text(encoding="utf-8")

    def copy_artifact(self, src_run: str, path: str, dst_run: str, dst_dir: str) -> bool:
        """Copy one artifact file of ``src_run`` into ``dst_dir`` of ``dst_run``; False
        when the source has no such file."""
        if not self.has_artifact(src_run, path):
            return False
        with tempfile.TemporaryDirectory(prefix="unisim-artifact-") as tmp:
            local = self.client.download_artifacts(src_run, path, tmp)
            self.client.log_artifact(dst_run, local, dst_dir)
        return True

    def read_json(self, run_id: str, path: str) -> Any:
        text = self.read_text(run_id, path)
        return json.loads(text) if text is not None else None

    def load_model(self, uri: str, what: str | None = None) -> Any:
        """Load a logged PyTorch model on the CPU; UnisimError (one line) when impossible."""
        import mlflow.pytorch

        try:
            return mlflow.pytorch.load_model(uri, map_location="cpu")
        except Exception as exc:  # MlflowException, OSError, unpickling errors: all user-fixable
            raise UnisimError(
                f"{what or uri}: no loadable model at {uri} ({_short(exc)})"
            ) from None

    def logged_model_id(self, run: Run | None, name: str = MODEL_ARTIFACT) -> str | None:
        """The newest LoggedModel called ``name`` that ``run`` produced (MLflow 3)."""
        if run is None:
            return None
        models = self.client.search_logged_models(
            experiment_ids=[run.info.experiment_id],
            filter_string=f"source_run_id = '{run.info.run_id}'",
        )
        named = [m for m in models if m.name == name]
        return max(named, key=lambda m: m.creation_timestamp).model_id if named else None

    def fail_pending_models(self, run_id: str, experiment_id: str) -> list[str]:
        """Mark the PENDING logged models of an ended run FAILED (a kill mid-logging left
        them); returns their ids. MLflow itself does so only when logging raises."""
        from mlflow.entities import LoggedModelStatus

        models = self.client.search_logged_models(
            experiment_ids=[experiment_id], filter_string=f"source_run_id = '{run_id}'"
        )
        pending = [m.model_id for m in models if m.status == LoggedModelStatus.PENDING]
        for model_id in pending:
            self.client.finalize_logged_model(model_id, LoggedModelStatus.FAILED)
        return pending
