"""Crash-safe file writes: write a sibling temp file, fsync, then rename into place.

A reader never sees a half-written file: after a crash the target is either the
old content or the new one (plus, at worst, a stray ``.tmp-*`` file). A secret
(``secret=True``) is 0600 from its creation to its rename, whatever the umask.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def atomic_path(path: str | Path, suffix: str = "", *, secret: bool = False) -> Iterator[Path]:
    """Yield a temp path next to ``path``; on success rename it onto ``path``.

    ``secret``: the file keeps mkstemp's 0600 (owner only), before and after the rename.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".tmp-{path.name}.", suffix=suffix, dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    if not secret:  # mkstemp makes 0600; a normal file respects the umask
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, path)
    finally:
        tmp_path.unlink(missing_ok=True)


def atomic_write_bytes(path: str | Path, data: bytes, *, secret: bool = False) -> None:
    with atomic_path(path, secret=secret) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | Path, text: str, *, secret: bool = False) -> None:
    atomic_write_bytes(path, text.encode("utf-8"), secret=secret)


def atomic_write_json(path: str | Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def read_json(path: str | Path, default: Any = None) -> Any:
    path = Path(path)
    if not path.is_file():
        return default
    return json.loads(path.read_text(encoding="utf-8"))


def update_json(path: str | Path, updates: dict[str, Any]) -> dict[str, Any]:
    """Merge ``updates`` into the JSON object at ``path`` (created if missing), atomically.

    Callers that may race (two promotions) hold a lock around this.
    """
    data = read_json(path, default={}) or {}
    data.update(updates)
    atomic_write_json(path, data)
    return data
