"""Move experimental configs out of ``configs/`` into dated experiment folders.

    report = migrate_configs(dry_run=True)            # what would move, nothing written
    report = migrate_configs()                        # *experimental*, *test*, *_vN*
    report = migrate_configs(patterns=["*_old*"])     # your own globs instead

``configs/train_foo_experimental.yaml`` becomes ``experiments/YYYY-MM-DD-foo_experimental/``
(the date is the file's modification date, a leading ``train_`` is dropped) with
``config.yaml`` (the same bytes; a relative ``include:`` is rewritten to still reach
its file), ``notes.md`` recording where it came from, and ``metadata.json``
(``migrated_from``, ``sha256``). The default names match whole words, so
``train_latest.yaml`` stays. Never moved: ``train_burgers_golden.yaml``, configs that
``unisim promote`` wrote (their header says so), and configs another config includes.

Crash-safe: each folder is built as ``experiments/.migrate-NAME``, renamed into place,
and only then is the original removed; a rerun that finds a folder whose
metadata.json records the same file and sha256 just removes the original.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import re
import shutil
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import yaml

from unisim import fsutil
from unisim.errors import ConfigError, UnisimError
from unisim.experiments.folders import EXPERIMENTS_DIR, sha256_file, validate_name

log = logging.getLogger(__name__)

CONFIGS_DIR = "configs"
PROTECTED = ("train_burgers_golden.yaml",)
DEFAULT_PATTERNS = ("*experimental*", "*test*", "*_vN*")
# The defaults as whole words of the file stem: "test" matches test64, _test, test-v2,
# but not "latest"; "_vN" matches _v2, _v10.
_DEFAULT_RE = re.compile(r"(^|[_.-])(experimental|test)|_v\d+($|[_.-])", re.IGNORECASE)
_PRODUCTION_HEADER = re.compile(r"unisim promote|production config", re.IGNORECASE)


@dataclass
class MigrateReport:
    actions: list[str] = field(default_factory=list)
    moved: list[tuple[str, str]] = field(default_factory=list)  # (configs/X.yaml, experiments/D)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def _matches(path: Path, patterns: list[str] | None) -> bool:
    if patterns:
        return any(fnmatch.fnmatch(path.name, p) for p in patterns)
    return bool(_DEFAULT_RE.search(path.stem))


def _leading_comments(text: str) -> str:
    lines = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            break
        lines.append(line)
    return "\n".join(lines)


def _include_of(path: Path) -> str | None:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, UnicodeDecodeError):
        return None
    inc = data.get("include") if isinstance(data, dict) else None
    return inc if isinstance(inc, str) else None


def _included_files(root: Path) -> set[Path]:
    """Files that some config in configs/ or experiments/*/ includes (never moved)."""
    configs = list((root / CONFIGS_DIR).glob("*.y*ml"))
    configs += list((root / EXPERIMENTS_DIR).glob("*/config.yaml"))
    out = set()
    for cfg in configs:
        inc = _include_of(cfg)
        if inc:
            out.add((cfg.parent / inc).resolve())
    return out


def _folder_name(path: Path, day: date, taken: set[str]) -> str:
    stem = path.stem[len("train_") :] if path.stem.startswith("train_") else path.stem
    stem = re.sub(r"[^A-Za-z0-9._+-]+", "-", stem).strip(".-") or "config"
    base = validate_name(f"{day.isoformat()}-{stem}")
    name, i = base, 2
    while name in taken:
        name, i = f"{base}-{i}", i + 1
    return name


def _rewrite_include(text: str, include: str, new: str) -> str | None:
    """``include: old`` -> ``include: new`` on its own line; None if not exactly one such line."""
    pattern = re.compile(
        r"^(include:\s*)(['\"]?)" + re.escape(include) + r"\2(\s*(#.*)?)$", re.MULTILINE
    )
    if len(pattern.findall(text)) != 1:
        return None
    return pattern.sub(lambda m: f"{m.group(1)}{m.group(2)}{new}{m.group(2)}{m.group(3)}", text)


def _loads(path: Path) -> str | None:
    """None if the config loads, else the one-line reason."""
    from unisim.config import load_config

    try:
        load_config(path)
    except ConfigError as exc:
        return str(exc)
    return None


def _migrated(root: Path) -> dict[tuple[str, str], str]:
    """``{(configs/X.yaml, sha256): experiments/D}`` recorded by earlier migrations."""
    out = {}
    for meta in (root / EXPERIMENTS_DIR).glob("*/metadata.json"):
        try:
            data = fsutil.read_json(meta, default={}) or {}
        except ValueError:
            continue
        origin = data.get("migrated_from") if isinstance(data, dict) else None
        if isinstance(origin, dict) and origin.get("path") and origin.get("sha256"):
            out[(origin["path"], origin["sha256"])] = f"{EXPERIMENTS_DIR}/{meta.parent.name}"
    return out


NOTES = """\
# {name}

Migrated from `{origin}` by `unisim experiments migrate` on {today}
(file last modified {modified}; sha256 {sha}).{extra}

## Hypothesis

What was this config testing? (Reconstruct it from the history of `{origin}`.)

## Config changes

Relative to `configs/train_burgers_golden.yaml`:

-

## Results

Run it with `unisim run {folder}/config.yaml`; the runs are in MLflow
(`unisim runs list {name}`).
"""


def migrate_configs(
    root: Path | None = None,
    *,
    patterns: list[str] | None = None,
    dry_run: bool = False,
    today: date | None = None,
) -> MigrateReport:
    """Move matching configs from configs/ into experiments/YYYY-MM-DD-NAME/ (see module doc)."""
    root = root or Path.cwd()
    today = today or date.today()
    report = MigrateReport()
    configs = root / CONFIGS_DIR
    if not configs.is_dir():
        raise UnisimError(f"{configs}: no configs folder here")
    if not dry_run:  # a killed migration before its rename left only its staging folder
        for leftover in (root / EXPERIMENTS_DIR).glob(".migrate-*"):
            shutil.rmtree(leftover, ignore_errors=True)
    done_before = _migrated(root)
    included = _included_files(root)
    taken = {p.name for p in (root / EXPERIMENTS_DIR).glob("*")}
    for path in sorted(configs.glob("*.y*ml")):
        rel = f"{CONFIGS_DIR}/{path.name}"
        if not _matches(path, patterns):
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        why = None
        if path.name in PROTECTED:
            why = "production config"
        elif _PRODUCTION_HEADER.search(_leading_comments(text)):
            why = "written by unisim promote (production config)"
        elif path.resolve() in included:
            why = "included by another config"
        if why:
            report.skipped.append((rel, why))
            report.actions.append(f"keep {rel}: {why}")
            continue
        sha = sha256_file(path)
        if (rel, sha) in done_before:
            report.actions.append(f"finish {rel}: already in {done_before[(rel, sha)]}; remove it")
            report.moved.append((rel, done_before[(rel, sha)]))
            if not dry_run:
                path.unlink()
            continue
        _migrate_one(root, path, rel, text, sha, taken, today, dry_run, report)
    if not report.moved:
        report.actions.append("nothing to migrate")
    return report


def _migrate_one(
    root: Path,
    path: Path,
    rel: str,
    text: str,
    sha: str,
    taken: set[str],
    today: date,
    dry_run: bool,
    report: MigrateReport,
) -> None:
    modified = datetime.fromtimestamp(path.stat().st_mtime, timezone.utc).date()
    name = _folder_name(path, modified, taken)
    folder = f"{EXPERIMENTS_DIR}/{name}"
    include = _include_of(path)
    extra = ""
    if include and not os.path.isabs(include):
        new = os.path.relpath((path.parent / include).resolve(), (root / folder).resolve())
        rewritten = _rewrite_include(text, include, Path(new).as_posix())
        if rewritten is None:
            report.skipped.append((rel, f"include: {include} could not be rewritten"))
            report.actions.append(f"keep {rel}: its include: line could not be rewritten")
            return
        text, extra = rewritten, f"\n`include: {include}` became `include: {new}`."
    broken = _loads(path)
    report.actions.append(f"move {rel} -> {folder}/config.yaml (+ notes.md, metadata.json)")
    if broken:
        report.actions.append(f"  note: it does not load today: {broken}")
    report.moved.append((rel, folder))
    taken.add(name)
    if dry_run:
        return
    origin: dict[str, Any] = {"path": rel, "sha256": sha, "migrated_at": today.isoformat()}
    facts = {"origin": rel, "today": today, "modified": modified, "sha": sha[:16]}
    notes = NOTES.format(name=name, folder=folder, extra=extra, **facts)
    # Staged next to its final place (same depth, so a rewritten include resolves the same).
    stage = root / EXPERIMENTS_DIR / f".migrate-{name}"
    stage.mkdir(parents=True)
    (stage / "config.yaml").write_text(text, encoding="utf-8")
    shutil.copystat(path, stage / "config.yaml")  # keep the mtime: it dates the experiment
    (stage / "notes.md").write_text(notes, encoding="utf-8")
    fsutil.atomic_write_json(stage / "metadata.json", {"migrated_from": origin})
    if not broken and (later := _loads(stage / "config.yaml")):
        shutil.rmtree(stage)
        raise UnisimError(f"{rel}: moving it would break it ({later}); nothing moved")
    os.rename(stage, root / folder)  # the folder appears whole; then the original goes
    path.unlink()
    log.info("migrated %s -> %s", rel, folder)
