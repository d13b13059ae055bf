"""Resolve what to evaluate: a run id, a registry URI or a checkpoint file -> model + config.

    loaded = load_source("3f2a...", store)                     # runs:/<id>/model + config.yaml
    loaded = load_source("models:/burgers-surrogate@champion", store)
    loaded = load_source("runs/ckpt/last.pt", store)           # a unisim checkpoint
    loaded.model, loaded.cfg, loaded.run_id, loaded.version

Anything the user can get wrong (no such run, a run without a model, an
unknown alias, a file that is not a checkpoint) raises ``UnisimError`` with
one line.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from unisim import tracking as T
from unisim.errors import ConfigError, UnisimError
from unisim.tracking.artifacts import MODEL_ARTIFACT

if TYPE_CHECKING:
    from unisim.config import Config

log = logging.getLogger(__name__)


@dataclass
class LoadedModel:
    """A model ready to evaluate and where it came from."""

    model: Any  # torch.nn.Module
    cfg: Config | None  # the config it was trained with, when known
    kind: str  # run | registry | checkpoint
    uri: str  # what was loaded: runs:/<id>/model, models:/<name>/<version>, a file path
    source: str  # what the user passed
    run_id: str | None = None  # the training run
    experiment_id: str | None = None
    registered_name: str | None = None
    version: str | None = None
    origin_run_id: str | None = None  # a checkpoint's training run (not written to)

    def describe(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "kind": self.kind,
            "uri": self.uri,
            "run_id": self.run_id,
            "registered_model": self.registered_name,
            "version": self.version,
            "origin_run_id": self.origin_run_id or self.run_id,
        }


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]


def run_config(store: T.Store, run_id: str) -> Config | None:
    """The resolved ``config.yaml`` a training run logged (None if it has none)."""
    from unisim.config import build_stored_config

    text = store.read_text(run_id, "config.yaml")
    if text is None:
        return None
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError:
        raise ConfigError(f"runs:/{run_id}/config.yaml: invalid YAML") from None
    return build_stored_config(data, source=f"runs:/{run_id}/config.yaml")


def _from_run(
    store: T.Store, run_id: str, source: str, artifact: str = MODEL_ARTIFACT
) -> LoadedModel:
    run = store.get_run(run_id)
    uri = f"runs:/{run_id}/{artifact}"
    model = store.load_model(uri, f"run {run_id}")
    return LoadedModel(
        model=model,
        cfg=run_config(store, run_id),
        kind="run",
        uri=uri,
        source=source,
        run_id=run_id,
        experiment_id=run.info.experiment_id,
    )


def _from_registry(store: T.Store, source: str) -> LoadedModel:
    mv = store.resolve_model_version(source)
    uri = f"models:/{mv.name}/{mv.version}"  # pinned: an alias may move while we work
    model = store.load_model(uri, source)
    run_id = mv.run_id or None
    cfg, experiment_id = None, None
    if run_id:
        try:
            run = store.get_run(run_id)
            experiment_id = run.info.experiment_id
            cfg = run_config(store, run_id)
        except ConfigError:
            raise
        except Exception as exc:  # the source run may be gone; the model is what matters
            log.warning("%s: source run %s unreadable (%s)", source, run_id, _short(exc))
            run_id = None
    return LoadedModel(
        model=model,
        cfg=cfg,
        kind="registry",
        uri=uri,
        source=source,
        run_id=run_id,
        experiment_id=experiment_id,
        registered_name=mv.name,
        version=str(mv.version),
    )


def _from_checkpoint(path: Path, source: str) -> LoadedModel:
    from unisim.training.checkpoint import load_checkpoint, load_model_from_checkpoint

    try:
        model, cfg = load_model_from_checkpoint(path)
        origin = load_checkpoint(path).get("run_id")
    except UnisimError:
        raise
    except Exception as exc:  # a foreign state dict, a model that no longer builds
        raise UnisimError(f"{source}: not a unisim checkpoint ({_short(exc)})") from None
    return LoadedModel(
        model=model,
        cfg=cfg,
        kind="checkpoint",
        uri=str(path),
        source=source,
        origin_run_id=str(origin) if origin else None,
    )


def load_source(source: str, store: T.Store) -> LoadedModel:
    """Load the model named by ``source`` (see the module docstring)."""
    source = source.strip()
    if source.startswith("models:/"):
        return _from_registry(store, source)
    if source.startswith("runs:/"):
        parts = source[len("runs:/") :].split("/", 1)
        if len(parts) != 2 or not T.RUN_ID_RE.match(parts[0]):
            raise UnisimError(f"{source}: expected runs:/<run_id>/model")
        return _from_run(store, parts[0], source, parts[1].strip("/"))
    path = Path(source).expanduser()
    if path.is_file():
        return _from_checkpoint(path, source)
    if T.RUN_ID_RE.match(source):
        return _from_run(store, source, source)
    if path.exists():
        raise UnisimError(f"{source}: a folder, not a checkpoint file")
    raise UnisimError(
        f"{source}: not a run id, a models:/NAME@ALIAS URI or an existing checkpoint file"
    )


def model_grid(loaded: LoadedModel) -> tuple[int | None, int]:
    """(nx the model expects or None when unknown, context) from its attributes or config."""
    cfg = loaded.cfg
    nx = getattr(loaded.model, "nx", None)
    if nx is None and cfg is not None:
        nx = cfg.data.nx // cfg.data.downsample_x
    context = getattr(loaded.model, "context", None)
    if context is None:
        context = cfg.model.context if cfg is not None else 1
    return (int(nx) if nx is not None else None), int(context)
