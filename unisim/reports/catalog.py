"""Config catalog and config diff: every config of the checkout, its key fields and its last run.

    cat = build_catalog(target=resolve_tracking())            # configs/ and experiments/
    cat = build_catalog(include_archive=True, csv_path="configs/catalog.csv")
    for row in cat.rows:
        row.path, row.valid, row.error, row.fields["model"], row.last and row.last.final_nrmse
    cat.invalid                                               # how many failed to load
    d = diff_configs("configs/train_burgers_golden.yaml", "configs/train_burgers_32dim.yaml")
    d.rows                                                    # [(dotted key, value A, value B)]

Which configs: every ``*.yaml``/``*.yml`` under ``configs/`` (sub-folders too, hidden
ones skipped), every ``experiments/*/config.yaml`` and, with ``include_archive``,
``experiments-archive/*/config.yaml``. Each is loaded with ``load_config`` (includes
applied); one that fails keeps its row with the ConfigError line and the catalog
goes on.

The last run of a config is its newest pipeline run (``unisim.kind=pipeline``, any
state), found in this order: same ``unisim.config_hash`` in the config's own MLflow
experiment (``experiments/NAME`` -> ``NAME``), same hash in any experiment, then
(experiment folders only) the newest pipeline run of its experiment, for a config
edited since it ran (``match = "experiment"``). A local SQLite store that does not
exist yet is not created; an unreachable server leaves the run columns empty and
says why in ``Catalog.mlflow``. The CSV (written atomically) has the key fields,
the run columns and every flattened config key, like the seed's config_catalog.py.
"""

from __future__ import annotations

import csv
import io
import logging
import os
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from unisim import tracking as T
from unisim.config import Config, GatesConfig, config_hash, experiment_name, flatten, load_config
from unisim.config.diff import ConfigDiff, diff_configs  # noqa: F401  (moved; imported from here)
from unisim.errors import ConfigError
from unisim.fsutil import atomic_write_text

log = logging.getLogger(__name__)

FOLDERS = ("configs", "experiments", "experiments-archive")
# grid_nx/grid_nt: the stored grid the model sees (after data.downsample_x/_t)
KEY_FIELDS = ("name", "nu", "grid_nx", "grid_nt", "model", "latent_dim", "latent_tokens",
              "epochs", "lr", "batch_size", "gates")  # fmt: skip
RUN_FIELDS = ("last_run_id", "last_experiment", "last_status", "last_final_nrmse",
              "last_gates_passed", "last_date", "last_match")  # fmt: skip


@dataclass
class LastRun:
    """The newest pipeline run of a config."""

    run_id: str
    experiment: str
    status: str  # unisim.status tag (success|failed|running|promoted|archived), else run state
    final_nrmse: float | None
    gates_passed: str | None  # "true" | "false" | None
    started: datetime | None
    match: str  # config_hash | experiment

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["started"] = self.started.isoformat(timespec="seconds") if self.started else None
        return data

    def cells(self) -> list[str]:
        """The RUN_FIELDS columns of the CSV."""
        d = self.to_dict()
        nrmse = "" if self.final_nrmse is None else repr(self.final_nrmse)
        return [self.run_id, self.experiment, self.status, nrmse, self.gates_passed or "",
                d["started"] or "", self.match]  # fmt: skip


@dataclass
class CatalogRow:
    path: str  # as given relative to the current folder (posix)
    folder: str  # configs | experiments | experiments-archive
    valid: bool
    error: str | None = None  # the ConfigError line of an invalid config
    config_hash: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)  # KEY_FIELDS
    params: dict[str, str] = field(default_factory=dict)  # flatten(cfg)
    last: LastRun | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "folder": self.folder,
            "valid": self.valid,
            "error": self.error,
            "config_hash": self.config_hash,
            **self.fields,
            "last_run": self.last.to_dict() if self.last else None,
            "params": self.params,
        }


@dataclass
class Catalog:
    rows: list[CatalogRow]
    mlflow: str  # where run columns came from, or why they are empty
    csv_path: str | None = None

    @property
    def invalid(self) -> int:
        return sum(not r.valid for r in self.rows)

    @property
    def with_runs(self) -> int:
        return sum(r.last is not None for r in self.rows)


# ---------------------------------------------------------------- key fields


def _g(value: float) -> str:
    return f"{value:g}"


def gates_summary(gates: GatesConfig) -> str:
    """``final_nrmse <=0.1 champ-1%; physics cons<=0.05 energy<=0.05 finite`` (compact)."""
    parts = []
    for gate in gates.metrics:
        sign = "+" if gate.greater_is_better else "-"
        checks = []
        if gate.threshold is not None:
            checks.append(f"{'>=' if gate.greater_is_better else '<='}{_g(gate.threshold)}")
        if gate.min_absolute_change is not None:
            checks.append(f"champ{sign}{_g(gate.min_absolute_change)}")
        if gate.min_relative_change is not None:
            checks.append(f"champ{sign}{_g(gate.min_relative_change * 100)}%")
        only = "" if set(gate.stages) == {"fast", "full"} else f" ({'/'.join(gate.stages)})"
        parts.append(f"{gate.metric} {' '.join(checks)}{only}")
    phys = gates.physics
    checks = []
    if phys.max_conservation_gap is not None:
        checks.append(f"cons<={_g(phys.max_conservation_gap)}")
    if phys.max_energy_violation is not None:
        checks.append(f"energy<={_g(phys.max_energy_violation)}")
    if not phys.allow_nonfinite:
        checks.append("finite")
    if checks:
        parts.append("physics " + " ".join(checks))
    return "; ".join(parts) or "none"


def key_fields(cfg: Config) -> dict[str, Any]:
    """The catalog's summary columns of one config (``KEY_FIELDS``)."""
    data, model = cfg.data, cfg.model
    latent = model.name == "latent"
    return {
        "name": cfg.name,
        "nu": data.nu,
        "grid_nx": data.nx // data.downsample_x,
        "grid_nt": (data.nt - 1) // data.downsample_t + 1,
        "model": model.name,
        "latent_dim": model.latent.dim if latent else None,
        "latent_tokens": model.latent.tokens if latent else None,
        "epochs": cfg.training.epochs,
        "lr": cfg.training.lr,
        "batch_size": cfg.training.batch_size,
        "gates": gates_summary(cfg.gates),
    }


# ---------------------------------------------------------------- finding and loading configs


def _shown(path: Path) -> str:
    """The path as a user types it: relative to the current folder when inside it."""
    try:
        return Path(os.path.relpath(path)).as_posix() if path.is_absolute() else path.as_posix()
    except ValueError:  # another drive (Windows)
        return path.as_posix()


SWEEP_SPACES = "sweeps"  # configs/sweeps/: `unisim sweep --space` files


def find_configs(root: Path | None = None, include_archive: bool = False) -> list[tuple[str, Path]]:
    """``(folder, path)`` of every config in the catalog's folders, sorted within each folder."""
    root = root or Path(".")
    found: list[tuple[str, Path]] = []
    configs = root / "configs"
    if configs.is_dir():
        for path in sorted(configs.rglob("*")):
            parts = path.relative_to(configs).parts
            hidden = any(p.startswith(".") for p in parts)
            hidden = hidden or parts[0] == SWEEP_SPACES  # search spaces, not configs
            if path.suffix in (".yaml", ".yml") and path.is_file() and not hidden:
                found.append(("configs", path))
    for folder in FOLDERS[1:] if include_archive else FOLDERS[1:2]:
        base = root / folder
        for sub in sorted(base.iterdir()) if base.is_dir() else []:
            if not sub.name.startswith(".") and (sub / "config.yaml").is_file():
                found.append((folder, sub / "config.yaml"))
    return found


def load_row(folder: str, path: Path) -> tuple[CatalogRow, Config | None]:
    """One catalog row; an invalid config gets its error line instead of fields."""
    shown = _shown(path)
    try:
        cfg = load_config(shown)
    except ConfigError as exc:
        return CatalogRow(shown, folder, valid=False, error=str(exc)), None
    except OSError as exc:  # unreadable file, a folder named *.yaml
        return CatalogRow(shown, folder, valid=False, error=f"{shown}: {exc.strerror}"), None
    fields, params = key_fields(cfg), flatten(cfg)
    return CatalogRow(shown, folder, True, None, config_hash(cfg), fields, params), cfg


# ---------------------------------------------------------------- last runs from MLflow


def _last_run(run: Any, names: dict[str, str], match: str) -> LastRun:
    tags, info = run.data.tags, run.info
    nrmse = run.data.metrics.get(T.FINAL_NRMSE)
    started = (
        datetime.fromtimestamp(info.start_time / 1000, timezone.utc) if info.start_time else None
    )
    return LastRun(
        run_id=info.run_id,
        experiment=names.get(info.experiment_id, info.experiment_id),
        status=tags.get(T.TAG_STATUS) or info.status.lower(),
        final_nrmse=float(nrmse) if nrmse is not None else None,
        gates_passed=tags.get(T.TAG_GATES_PASSED),
        started=started,
        match=match,
    )


class _RunFinder:
    """Newest pipeline runs by config hash and by experiment, with one search per question."""

    def __init__(self, store: T.Store) -> None:
        self.store = store
        self.ids = {e.name: e.experiment_id for e in store.active_experiments()}
        self.names = {v: k for k, v in self.ids.items()}
        self._by_hash: dict[str, Any] = {}

    def newest(self, exp_ids: list[str], cfg_hash: str | None) -> Any:
        return self.store.newest_pipeline_run(exp_ids, cfg_hash)

    def last_run(self, row: CatalogRow, cfg: Config, path: Path) -> LastRun | None:
        own = experiment_name(path, cfg) if row.folder != "configs" else None
        own_id = self.ids.get(own) if own else None
        if own_id is not None:
            run = self.newest([own_id], row.config_hash)
            if run is not None:
                return _last_run(run, self.names, "config_hash")
        if row.config_hash not in self._by_hash:
            self._by_hash[row.config_hash] = self.newest(list(self.ids.values()), row.config_hash)
        run = self._by_hash[row.config_hash]
        if run is not None:
            return _last_run(run, self.names, "config_hash")
        if own_id is not None:
            run = self.newest([own_id], None)
            if run is not None:
                return _last_run(run, self.names, "experiment")
        return None


def _attach_runs(
    loaded: list[tuple[CatalogRow, Config | None, Path]], target: T.TrackingTarget
) -> str:
    """Fill ``row.last`` for the valid rows; returns the Catalog.mlflow note."""
    if not target.exists:
        return f"{target.uri} (no store yet: no runs)"
    try:
        with T.fail_fast_http(10, 1):  # a dead server costs seconds, not MLflow's minutes
            finder = _RunFinder(T.connect(target))
            for row, cfg, path in loaded:
                if cfg is not None:
                    row.last = finder.last_run(row, cfg, path)
    except Exception as exc:  # unreachable server, refused credentials, unknown tables
        reason = T.describe_error(exc)
        log.warning(
            "MLflow at %s could not be read (%s): run columns left empty", target.uri, reason
        )
        for row, _, _ in loaded:
            row.last = None
        return f"{target.uri} unreachable ({reason}): run columns empty"
    return target.uri


# ---------------------------------------------------------------- the catalog


def write_csv(catalog: Catalog, path: str | Path) -> Path:
    """Key fields, run columns, then every flattened config key; written atomically."""
    keys = sorted({k for row in catalog.rows for k in row.params})
    head = ["path", "folder", "valid", "error", "config_hash", *KEY_FIELDS, *RUN_FIELDS, *keys]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(head)
    for row in catalog.rows:
        run_cells = row.last.cells() if row.last else [""] * len(RUN_FIELDS)
        cells = [row.path, row.folder, str(row.valid).lower(), row.error or "", row.config_hash]
        cells += ["" if row.fields.get(k) is None else row.fields[k] for k in KEY_FIELDS]
        writer.writerow([*cells, *run_cells, *(row.params.get(k, "") for k in keys)])
    path = Path(path)
    atomic_write_text(path, buf.getvalue())
    return path


def build_catalog(
    root: str | Path | None = None,
    *,
    target: T.TrackingTarget | None = None,
    include_archive: bool = False,
    offline: bool = False,
    csv_path: str | Path | None = None,
) -> Catalog:
    """Every config with its key fields and last pipeline run; optionally the CSV too.

    Never raises for a bad config (its row carries the error); a failing MLflow read
    leaves the run columns empty. ``offline`` skips MLflow altogether.
    """
    root = Path(root) if root is not None else Path(".")
    loaded = []
    for folder, path in find_configs(root, include_archive):
        row, cfg = load_row(folder, path)
        loaded.append((row, cfg, path))
    if offline:
        note = "offline: run columns skipped"
    else:
        note = _attach_runs(loaded, target or T.resolve_tracking())
    catalog = Catalog([row for row, _, _ in loaded], note)
    if csv_path is not None:
        catalog.csv_path = _shown(write_csv(catalog, csv_path))
    log.info("catalog: %d configs, %d invalid", len(catalog.rows), catalog.invalid)
    return catalog
