"""A file lock that serialises registry changes (promotions, rollbacks) across processes.

    with registry_lock(target):
        ...  # read the champion, register, move aliases, write configs/

The lock lives next to a SQLite store (``<store dir>/promote.lock``) so every
process using that store shares it; for a server store it lives under the
current folder (``mlruns/locks/``), which serialises promotions made from one
checkout. Two machines promoting against one server at the same instant are not
serialised by it: the registry then keeps both versions and the last alias wins.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator
from pathlib import Path

from unisim.errors import UnisimError
from unisim.tracking import TrackingTarget

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 300.0
TIMEOUT_ENV = "UNISIM_LOCK_TIMEOUT_S"  # how long to wait for another promotion


def lock_path(target: TrackingTarget, base: Path | None = None) -> Path:
    """Where the registry lock for ``target`` lives."""
    if target.uri.startswith("sqlite:///"):
        return Path(target.uri[len("sqlite:///") :]).parent / "promote.lock"
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", target.uri.split("://", 1)[-1]).strip("_")
    return (base or Path.cwd()) / "mlruns" / "locks" / f"promote-{slug or 'server'}.lock"


def _timeout() -> float:
    from unisim.settings import load_settings

    return load_settings().lock_timeout_s


@contextlib.contextmanager
def registry_lock(target: TrackingTarget, timeout_s: float | None = None) -> Iterator[Path]:
    """Hold the registry lock of ``target``; UnisimError if it stays busy for ``timeout_s``.

    The default wait is ``$UNISIM_LOCK_TIMEOUT_S`` or 300 s.
    """
    from filelock import FileLock, Timeout

    timeout_s = _timeout() if timeout_s is None else timeout_s
    path = lock_path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(path), timeout=timeout_s)
    try:
        lock.acquire()
    except Timeout:
        raise UnisimError(
            f"{path}: another promotion held the registry lock for over {timeout_s:g} s"
        ) from None
    log.debug("holding %s", path)
    try:
        yield path
    finally:
        lock.release()
