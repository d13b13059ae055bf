"""Helpers for the lifecycle tests: experiment folders and runs made as the pipeline makes them.

    folder = make_folder(root, "2026-01-02-foo", files={"reports/report.json": b"{}"})
    run_id = pipeline_run(store, folder, gates=True, nrmse=0.12)
    running_run(store, folder)                       # left RUNNING

No tests here; the lifecycle test modules import it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from unisim import tracking
from unisim.experiments.folders import ARCHIVE_DIR, EXPERIMENTS_DIR

CONFIG = "name: tiny\ndata:\n  nx: 32\n  solver_nx: 64\n  nt: 5\nmodel:\n  latent:\n    tokens: 8\n"


def make_folder(root: Path, name: str, files: dict[str, bytes] | None = None) -> Path:
    folder = root / EXPERIMENTS_DIR / name
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(CONFIG)
    (folder / "notes.md").write_text(f"# {name}\n\n## Results\n\n")
    for rel, data in (files or {}).items():
        (folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (folder / rel).write_bytes(data)
    return folder


def pipeline_run(
    store: tracking.TrackingTarget,
    folder: Path,
    *,
    gates: bool | None = True,
    nrmse: float | None = 0.1,
    crash: bool = False,
    kind: str = "pipeline",
    params: dict[str, str] | None = None,
    children: int = 0,
) -> str:
    """A finished run tagged as the pipeline tags it (crash=True: it ends FAILED)."""
    name = folder.name
    made: list[str] = []

    def body() -> str:
        with tracking.start_run(
            kind=kind, experiment=name, target=store, config_path=folder / "config.yaml"
        ) as run:
            made.append(run.run_id)
            if params:
                run.log_params(params)
            for i in range(children):
                with tracking.start_run(
                    kind="train" if i % 2 == 0 else "evaluate",
                    experiment=name,
                    target=store,
                    config_path=folder / "config.yaml",
                    parent_run_id=run.run_id,
                ) as child:
                    child.metrics.log({"train/loss": 0.5}, step=1)
            if gates is not None:
                run.set_tags({tracking.TAG_GATES_PASSED: str(gates).lower()})
            if nrmse is not None:
                run.metrics.log({"final_nrmse": nrmse, "one_step_nrmse": nrmse / 2})
            run.log_dict({"gates_passed": gates, "final_nrmse": nrmse}, "report.json")
            if crash:
                raise RuntimeError("boom")
            return run.run_id

    if not crash:
        return body()
    with pytest.raises(RuntimeError):
        body()
    return made[0]


def running_run(store: tracking.TrackingTarget, folder: Path) -> str:
    """A pipeline run left RUNNING (created, never terminated)."""
    client = tracking.configure(store)
    exp_id = tracking.get_or_create_experiment(
        client, folder.name, store, {tracking.TAG_EXPERIMENT_DIR: f"experiments/{folder.name}"}
    )
    run = client.create_run(
        exp_id, tags={tracking.TAG_KIND: "pipeline", tracking.TAG_STATUS: "running"}
    )
    return run.info.run_id


def tree(root: Path) -> dict[str, str]:
    """``{relative path: sha256}`` of every file under experiments/ and experiments-archive/."""
    out = {}
    for sub in (EXPERIMENTS_DIR, ARCHIVE_DIR):
        base = root / sub
        if base.is_dir():
            for path in sorted(base.rglob("*")):
                if path.is_file():
                    out[path.relative_to(root).as_posix()] = hashlib.sha256(
                        path.read_bytes()
                    ).hexdigest()
    return out


def all_tags(client, experiment_name: str) -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """(experiment tags, {run_id: run tags}) of one experiment."""
    exp = client.get_experiment_by_name(experiment_name)
    runs = client.search_runs([exp.experiment_id], max_results=1000)
    return dict(exp.tags), {r.info.run_id: dict(r.data.tags) for r in runs}
