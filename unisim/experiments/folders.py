"""Experiment folders: safe names, creation, listing, and the file signals of folders with no runs.

    made = new_experiment("64dim-latent", from_config="configs/train_burgers_golden.yaml")
    made.path        # experiments/2026-11-29-64dim-latent/ with config.yaml and notes.md
    made.url         # the MLflow runs table of experiment "2026-11-29-64dim-latent"
    for folder in list_folders(Path(".")):
        print(folder.name, folder.archived, file_signals(folder.path).result)

A folder ``experiments/YYYY-MM-DD-NAME`` and the MLflow experiment ``YYYY-MM-DD-NAME``
(tagged ``unisim.experiment_dir=experiments/YYYY-MM-DD-NAME``) are the same
experiment; ``experiments-archive/`` holds archived ones in the same shape.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import tempfile
import unicodedata
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from unisim.errors import UnisimError

log = logging.getLogger(__name__)

EXPERIMENTS_DIR = "experiments"
ARCHIVE_DIR = "experiments-archive"
MAX_NAME = 120  # characters, date prefix included (MLflow allows more; paths get unwieldy)
DATED_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})-(.+)$")
_SAFE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")
SUCCESS_MARKS = ("✓", "✔")
FAILURE_MARKS = ("✗", "✘")

NOTES_TEMPLATE = """\
# {name}

Created {today} from {source}.

## Hypothesis

What should change, and why?

## Config changes

Relative to {source}:

-

## Results

Run it with `unisim run experiments/{name}/config.yaml`; runs, gates and metrics are in
MLflow (`unisim runs list {name}`). Summarise what was learned here; the status shown by
`unisim experiments list` comes from the runs.
"""


def validate_name(name: str) -> str:
    """Return ``name`` if it is a safe experiment name, else raise one-line UnisimError.

    Refused: empty, ``..``, ``/`` or ``\\``, absolute paths, control characters,
    whitespace, a leading ``.`` or ``-``, and anything beyond ``[A-Za-z0-9._+-]``.
    """
    shown = repr(name)
    if not name or not name.strip():
        raise UnisimError("experiment name is empty")
    if any(unicodedata.category(c) in ("Cc", "Cf") for c in name):
        raise UnisimError(f"experiment name {shown}: control characters are not allowed")
    if os.path.isabs(name) or name.startswith(("/", "\\", "~")):
        raise UnisimError(f"experiment name {shown}: must be a name, not an absolute path")
    if "/" in name or "\\" in name:
        raise UnisimError(f"experiment name {shown}: must not contain a path separator")
    if ".." in name:
        raise UnisimError(f"experiment name {shown}: must not contain '..'")
    if not _SAFE_RE.match(name):
        raise UnisimError(
            f"experiment name {shown}: use letters, digits, '.', '_', '+' and '-' "
            "(starting with a letter or digit)"
        )
    if len(name) > MAX_NAME:
        raise UnisimError(f"experiment name {shown}: longer than {MAX_NAME} characters")
    return name


def dated_name(name: str, today: date | None = None) -> str:
    """``64dim-latent`` -> ``2026-11-29-64dim-latent``; an already dated name is kept."""
    validate_name(name)
    if DATED_RE.match(name):
        return name
    return validate_name(f"{(today or date.today()).isoformat()}-{name}")


def short_name(name: str) -> str:
    """``2026-11-29-64dim-latent`` -> ``64dim-latent`` (the name without its date)."""
    match = DATED_RE.match(name)
    return match.group(4) if match else name


# ---------------------------------------------------------------- new


@dataclass(frozen=True)
class NewExperiment:
    name: str  # YYYY-MM-DD-NAME: folder and MLflow experiment
    path: Path
    experiment_id: str
    url: str


def _config_text(from_config: str | Path | None, name: str) -> tuple[str, str]:
    """(config.yaml text, where it came from); the source is validated first.

    The copy gets the new experiment's identity (``name``, ``tracking.experiment``,
    ``description``): a copied name would label every run after the source config, and
    a copied description would describe the source's model, not this experiment's.
    """
    import yaml

    from unisim.config import build_config, load_config, to_yaml
    from unisim.experiments.identity import rewrite_identity

    if from_config is None:
        cfg = build_config({"name": short_name(name)})
        text = rewrite_identity(
            to_yaml(cfg), name=short_name(name), experiment=name, description=f"{name}: say what it tries"
        )
        return text, "the default config"
    source = Path(from_config)
    cfg = load_config(source)  # ConfigError (exit 2) before anything is written
    raw = source.read_text(encoding="utf-8")
    data = yaml.safe_load(raw)  # parses: load_config just read it
    if isinstance(data, dict) and "include" in data:
        # A relative include would break in the new folder: write the config resolved.
        raw = f"# resolved from {source} (includes expanded)\n" + to_yaml(cfg)
    base = f" ({cfg.description})" if cfg.description else ""
    text = rewrite_identity(
        raw,
        name=short_name(name),
        experiment=name,
        description=f"{name}: based on {source}{base}; say what changes",
    )
    return text, str(source)


def new_experiment(
    name: str,
    *,
    from_config: str | Path | None = None,
    target=None,  # TrackingTarget | None
    root: Path | None = None,
    today: date | None = None,
    config_text: str | None = None,
    notes: str | None = None,
    metadata: dict | None = None,
) -> NewExperiment:
    """Create ``experiments/YYYY-MM-DD-NAME/`` (config.yaml, notes.md) and its MLflow experiment.

    Nothing is written when the name, the source config or the store is refused;
    the folder appears whole (built in a temp folder, then renamed). Sweeps pass the
    best config's YAML (``config_text``, its identity rewritten here), their own
    ``notes`` and extra ``metadata`` (``from_config`` is then only named as the base).
    """
    from unisim import tracking

    root = root or Path.cwd()
    full = dated_name(name, today)
    folder = root / EXPERIMENTS_DIR / full
    rel = f"{EXPERIMENTS_DIR}/{full}"
    if folder.exists() or (root / ARCHIVE_DIR / full).exists():
        where = folder if folder.exists() else root / ARCHIVE_DIR / full
        raise UnisimError(f"{where}: experiment {full!r} already exists")
    if config_text is None:
        text, source = _config_text(from_config, full)
    else:
        from unisim.experiments.identity import rewrite_identity

        source = str(from_config)
        text = rewrite_identity(
            config_text, name=short_name(full), experiment=full, description=f"{full}: {source}"
        )
    notes = notes or NOTES_TEMPLATE.format(
        name=full, today=(today or date.today()).isoformat(), source=source
    )

    target = target or tracking.resolve_tracking()
    exp_id = tracking.connect(target).get_or_create_experiment(
        full, {tracking.TAG_EXPERIMENT_DIR: rel}
    )

    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".new-{full}.", dir=folder.parent))
    try:
        (tmp / "config.yaml").write_text(text, encoding="utf-8")
        (tmp / "notes.md").write_text(notes, encoding="utf-8")
        if from_config is not None:  # run names say what differs from it (unisim.naming)
            meta = {"created": (today or date.today()).isoformat(), "base_config": source}
            meta.update(metadata or {})
            (tmp / "metadata.json").write_text(json.dumps(meta, indent=2) + "\n", "utf-8")
        os.rename(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("created %s (MLflow experiment %s)", folder, exp_id)
    return NewExperiment(full, folder, exp_id, tracking.experiment_url(target, exp_id))


# ---------------------------------------------------------------- listing


@dataclass(frozen=True)
class Folder:
    name: str
    path: Path
    archived: bool  # under experiments-archive/

    @property
    def rel(self) -> str:
        return f"{ARCHIVE_DIR if self.archived else EXPERIMENTS_DIR}/{self.name}"


def list_folders(root: Path | None = None) -> list[Folder]:
    """Experiment folders under experiments/ and experiments-archive/ (hidden ones skipped)."""
    root = root or Path.cwd()
    found = []
    for sub, archived in ((EXPERIMENTS_DIR, False), (ARCHIVE_DIR, True)):
        base = root / sub
        if not base.is_dir():
            continue
        for path in sorted(base.iterdir()):
            if path.is_dir() and not path.name.startswith(".") and not path.is_symlink():
                found.append(Folder(path.name, path, archived))
    return found


def folder_files(path: Path) -> list[str]:
    """Every regular file under ``path`` as sorted POSIX relative paths (symlinks refused)."""
    out = []
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames.sort()
        for fname in filenames:
            full = Path(dirpath) / fname
            if full.is_symlink():
                raise UnisimError(f"{full}: symbolic links are not archived; replace it by a file")
            out.append(full.relative_to(path).as_posix())
    return sorted(out)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


EMPTY_DIR = "dir"  # the manifest's value for an empty folder (its key ends with "/")


def empty_dirs(path: Path) -> list[str]:
    """Every folder under ``path`` with nothing in it, as sorted ``rel/`` paths."""
    out = []
    for dirpath, dirnames, filenames in os.walk(path):
        if not dirnames and not filenames and Path(dirpath) != path:
            out.append(Path(dirpath).relative_to(path).as_posix() + "/")
    return sorted(out)


def manifest(path: Path) -> dict[str, str]:
    """``{relative path: sha256}`` of every file in a folder, and ``{"rel/": "dir"}`` for
    every empty folder (a folder with files is implied by them): archive keeps both."""
    files = {rel: sha256_file(path / rel) for rel in folder_files(path)}
    return {**files, **dict.fromkeys(empty_dirs(path), EMPTY_DIR)}


# ---------------------------------------------------------------- file signals (no runs)


@dataclass(frozen=True)
class FileSignals:
    """What the seed read from files: a result (success|failed|None), why, and activity."""

    result: str | None
    why: str
    last_modified: float | None  # newest mtime in the folder, epoch seconds
    final_nrmse: float | None = None


def _report_signal(path: Path) -> tuple[str | None, str, float | None]:
    reports = sorted(path.rglob("report.json"), key=lambda p: p.stat().st_mtime)
    for report in reversed(reports):
        try:
            data = json.loads(report.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if not isinstance(data, dict) or "gates_passed" not in data:
            continue
        passed = str(data["gates_passed"]).lower() == "true"
        nrmse = data.get("final_nrmse")
        nrmse = float(nrmse) if isinstance(nrmse, (int, float)) else None
        rel = report.relative_to(path).as_posix()
        return ("success" if passed else "failed"), f"{rel}: gates_passed={passed}", nrmse
    return None, "", None


def _notes_signal(path: Path) -> tuple[str | None, str]:
    notes = path / "notes.md"
    if not notes.is_file():
        return None, ""
    text = notes.read_text(encoding="utf-8", errors="replace")
    # The last mark wins: results are appended under the template's headings.
    positions = [(text.rfind(m), "success") for m in SUCCESS_MARKS]
    positions += [(text.rfind(m), "failed") for m in FAILURE_MARKS]
    pos, result = max(positions)
    if pos < 0:
        return None, ""
    return result, f"notes.md marks it {'✓' if result == 'success' else '✗'}"


def file_signals(path: Path) -> FileSignals:
    """The seed's signals: report.json ``gates_passed``, then ✓/✗ in notes.md; newest mtime."""
    mtimes = [path.stat().st_mtime]
    for dirpath, _dirs, files in os.walk(path):
        mtimes.extend(os.lstat(os.path.join(dirpath, f)).st_mtime for f in files)
    result, why, nrmse = _report_signal(path)
    if result is None:
        result, why = _notes_signal(path)
    return FileSignals(result, why, max(mtimes), nrmse)
