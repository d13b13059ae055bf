"""Find what a promotion is about: the candidate run, its model, its config and its folder.

    run, folder = resolve_target(store, "experiments/2026-11-29-64dim-latent")
    cand = gather(store, run, folder)        # train run, logged model, config.yaml, metrics

A TARGET is an experiment folder, an MLflow experiment name (with or without its
``YYYY-MM-DD-`` prefix) or a run id. An experiment stands for its best finished
pipeline run: the lowest ``final_nrmse`` among those with ``unisim.gates_passed=true``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from unisim import tracking
from unisim.errors import CheckFailed, UnisimError

if TYPE_CHECKING:
    from unisim.tracking.entities import Experiment, Run

DATE_PREFIX_RE = re.compile(r"^\d{4}-\d{2}-\d{2}-")


@dataclass
class Candidate:
    """A run that may be promoted, with everything validation and promotion read."""

    run: Run  # the pipeline run (or a standalone train run that was evaluated)
    train_run: Run | None  # the run that logged the model
    model_id: str | None  # MLflow 3 logged-model id of runs:/<train_run>/model
    experiment: str
    folder: Path | None  # experiments/NAME in the current checkout, when present
    config_text: str | None  # the resolved config.yaml artifact
    config: dict[str, Any] | None
    config_error: str | None

    @property
    def run_id(self) -> str:
        return self.run.info.run_id

    @property
    def train_run_id(self) -> str | None:
        return self.train_run.info.run_id if self.train_run else None

    def metric(self, key: str) -> float | None:
        for run in (self.run, self.train_run):
            if run is not None and key in run.data.metrics:
                value = float(run.data.metrics[key])
                return value if math.isfinite(value) else None
        return None

    def tag(self, key: str) -> str | None:
        for run in (self.run, self.train_run):
            if run is not None and key in run.data.tags:
                return run.data.tags[key]
        return None


def best_run(store: tracking.Store, exp: Experiment) -> Run:
    """Lowest final_nrmse among finished, gates-passed, non-archived pipeline runs."""
    finished = store.finished_pipeline_runs(exp.experiment_id)
    if not finished:
        raise CheckFailed(f"experiment {exp.name!r}: no finished pipeline run to promote")
    ok = store.best_pipeline_runs(exp.experiment_id)
    if not ok:
        raise CheckFailed(
            f"experiment {exp.name!r}: none of its {len(finished)} finished pipeline run(s) "
            f"passed its gates with a final_nrmse"
        )
    return ok[0]


def _folder_for(spec: str) -> Path | None:
    """``experiments/*-NAME`` when exactly one folder matches."""
    root = Path("experiments")
    if not root.is_dir() or "/" in spec or spec in (".", ".."):
        return None
    matches = [p for p in root.glob(f"*-{spec}") if p.is_dir() and DATE_PREFIX_RE.match(p.name)]
    return matches[0] if len(matches) == 1 else None


def resolve_target(
    store: tracking.Store, spec: str | None, run_id: str | None = None
) -> tuple[Run, Path | None]:
    """TARGET (folder, experiment name or run id) and/or ``--run-id`` -> (run, folder)."""
    folder = Path(spec) if spec and Path(spec).is_dir() else None
    if run_id:
        return store.get_run(run_id), folder
    if not spec:
        raise UnisimError("promote: give a TARGET (experiment folder, name or run id) or --run-id")
    if folder is None and store.experiment_by_name(spec) is None:
        folder = _folder_for(spec)
    if folder is not None:
        name = folder.resolve().name
        exp = store.experiment_by_name(name)
        if exp is None:
            raise UnisimError(
                f"{spec}: no MLflow experiment named {name!r} (run it first: "
                f"unisim run {folder / 'config.yaml'})"
            )
        return best_run(store, exp), folder
    exp = store.experiment_by_name(spec)
    if exp is not None:
        return best_run(store, exp), None
    if tracking.RUN_ID_RE.match(spec):
        return store.get_run(spec), None
    raise UnisimError(f"{spec}: not an experiment folder, an MLflow experiment or a run id")


def _train_run(store: tracking.Store, run: Run) -> Run | None:
    tags = run.data.tags
    if tags.get(tracking.TAG_KIND) != tracking.Kind.PIPELINE:
        return run  # a standalone train run carries its own model
    if tags.get(tracking.TAG_TRAIN_RUN):
        return store.get_run(tags[tracking.TAG_TRAIN_RUN])
    children = store.children(run.info.run_id, run.info.experiment_id, kind=tracking.Kind.TRAIN)
    return children[0] if children else None


def _config(store: tracking.Store, runs: list[Run]) -> tuple[str | None, dict | None, str | None]:
    """The first ``config.yaml`` artifact among ``runs``, parsed and validated."""
    from unisim.config import build_stored_config, dropped_sections, to_yaml
    from unisim.errors import ConfigError

    for run in runs:
        text = store.read_text(run.info.run_id, "config.yaml")
        if text is None:
            continue
        try:
            data = yaml.safe_load(text) or {}
            cfg = build_stored_config(data, source=f"runs:/{run.info.run_id}/config.yaml")
        except (yaml.YAMLError, ConfigError, AttributeError) as exc:
            return text, None, str(exc).splitlines()[0]
        if dropped_sections(data):  # older unisim stored every architecture's section
            text = to_yaml(cfg)  # promotion writes what load_config accepts today
        return text, data, None
    ids = ", ".join(r.info.run_id for r in runs)
    return None, None, f"no config.yaml artifact on run {ids}"


def gather(store: tracking.Store, run: Run, folder: Path | None) -> Candidate:
    """Everything about ``run`` that validation and promotion need (read-only)."""
    train = _train_run(store, run)
    if folder is None and run.data.tags.get(tracking.TAG_EXPERIMENT_DIR):
        path = Path(run.data.tags[tracking.TAG_EXPERIMENT_DIR])
        folder = path if path.is_dir() else None
    runs = [run] + ([train] if train is not None and train is not run else [])
    text, data, error = _config(store, runs)
    return Candidate(
        run=run,
        train_run=train,
        model_id=store.logged_model_id(train),
        experiment=store.experiment_name(run.info.experiment_id),
        folder=folder,
        config_text=text,
        config=data,
        config_error=error,
    )


def production_name(cand: Candidate, config_name: str | None) -> str:
    """``2025-01-22-test-64dim`` -> ``test-64dim``; ``--config-name`` wins."""
    if config_name:
        name = config_name.removesuffix(".yaml").removeprefix("train_")
    else:
        base = cand.folder.resolve().name if cand.folder is not None else cand.experiment
        name = DATE_PREFIX_RE.sub("", base)
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name) or ".." in name:
        source = "--config-name" if config_name else "experiment name"
        raise UnisimError(
            f"{source} {name!r}: a production config name may use letters, digits, '.', '_', '-'"
        )
    return name


def check_production_path(path: Path) -> None:
    """Refuse ``configs/train_burgers-golden.yaml`` beside ``configs/train_burgers_golden.yaml``:
    two production configs whose names differ only by ``-`` / ``_`` are one model's config
    written twice, and nobody can tell which one is current."""

    def key(p: Path) -> str:
        return p.stem.replace("-", "_").lower()

    if not path.parent.is_dir():
        return
    for other in sorted(path.parent.glob("*.yaml")):
        if other.name != path.name and key(other) == key(path):
            same = other.stem.removeprefix("train_")
            raise UnisimError(
                f"production config {path} would sit beside {other} (the names differ only by "
                f"'-'/'_'); promote into that one with --config-name {same}"
            )
