"""Local metric journal: the points a run could not send, kept on disk until they are.

    journal = Journal(run_id, tracking_uri="http://127.0.0.1:5000")
    journal.append([Point("train/loss", 0.25, 1764400000000, 3)])
    upload(journal, client)              # -> (sent, skipped); idempotent
    # unisim/tracking/sync.py: sync_journals(), what `unisim sync` does for every journal

The MetricLogger (unisim/tracking/metrics.py) writes here when the tracking server cannot
be reached, and replays the journal when it answers again; whatever is left when
a run ends is uploaded later by ``unisim sync``. One file per run,
``<UNISIM_JOURNAL_DIR or ./mlruns/journal>/<run_id>.jsonl``, one JSON object a line:

    {"run_id": "ab12...", "tracking_uri": "http://host:5000", "created": 1764400000.0}
    {"k": "train/loss", "v": 0.25, "ts": 1764400000000, "s": 3}     # a metric point
    {"end": "FAILED", "reason": "..."}   # the run's end (and why) could not reach the server

Exactly once: before sending, ``upload`` asks the server for each key's history and
skips points it already holds (a send whose answer was lost, a crash between send
and bookkeeping); after each sent chunk it rewrites the journal atomically without
those points. A per-run lock (``.locks/<run_id>.lock``) keeps ``unisim sync`` and a
live run apart. Credentials are never written: the URI is stored without password.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from unisim.fsutil import atomic_path
from unisim.tracking.store import redact_uri
from unisim.tracking.transport import CHUNK, Point, send_points

if TYPE_CHECKING:
    from mlflow import MlflowClient

log = logging.getLogger(__name__)

JOURNAL_DIR_ENV = "UNISIM_JOURNAL_DIR"
_MAX_FLOAT = 1.7976931348623157e308  # SQL stores keep +-inf as +-max float


def journal_dir(directory: str | Path | None = None) -> Path:
    """The journal folder: the argument, else $UNISIM_JOURNAL_DIR, else ./mlruns/journal."""
    from unisim.settings import load_settings

    folder = directory or load_settings().journal_dir or Path.cwd() / "mlruns" / "journal"
    return Path(folder).resolve()


def _strip_password(uri: str | None) -> str | None:
    if not uri:
        return uri
    redacted = redact_uri(uri)
    return redacted.replace(":***@", "@") if redacted != uri else uri


class JournalBusy(Exception):
    """Another process holds this run's journal (a live run, or another sync)."""


class Journal:
    """The on-disk journal of one run; every mutation holds the run's lock."""

    def __init__(
        self, run_id: str, tracking_uri: str | None = None, directory: str | Path | None = None
    ) -> None:
        self.run_id = run_id
        self.tracking_uri = _strip_password(tracking_uri)
        self.dir = journal_dir(directory)
        self.path = self.dir / f"{run_id}.jsonl"
        self._pending = self._count() if self.path.exists() else 0
        self.end_reason: str | None = None  # the recorded end's reason, as last read

    # ------------------------------------------------------------ locking and reading
    @contextlib.contextmanager
    def locked(self, timeout: float = 10.0) -> Iterator[None]:
        """Hold the run's lock; raises JournalBusy after ``timeout`` s (0: do not wait)."""
        from filelock import FileLock, Timeout

        lock_dir = self.dir / ".locks"
        lock_dir.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(lock_dir / f"{self.run_id}.lock"))
        try:
            lock.acquire(timeout=timeout)
        except Timeout:
            raise JournalBusy(f"journal of run {self.run_id} is in use") from None
        try:
            yield
        finally:
            lock.release()

    def _lines(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        rows = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:  # a line torn by a crash mid-append: that point is lost
                log.warning("%s: skipping a damaged line: %.80s", self.path, line)
        return rows

    def _count(self) -> int:
        return sum(1 for row in self._lines() if "k" in row)

    def read(self) -> tuple[dict[str, Any], list[Point], str | None]:
        """(header, points, end status or None) as stored now; the end's reason goes to
        ``self.end_reason``."""
        header: dict[str, Any] = {}
        points: list[Point] = []
        end = None
        self.end_reason = None
        for row in self._lines():
            if "k" in row:
                points.append(Point(row["k"], float(row["v"]), int(row["ts"]), int(row["s"])))
            elif "end" in row:
                end, self.end_reason = row["end"], row.get("reason")
            elif "run_id" in row:
                header = row
        self._pending = len(points)
        return header, points, end

    @property
    def pending(self) -> int:
        """Points waiting in this journal (as this process last saw it)."""
        return self._pending

    @property
    def exists(self) -> bool:
        return self.path.exists()

    # ------------------------------------------------------------ writing
    def _header(self) -> str:
        header = {"run_id": self.run_id, "tracking_uri": self.tracking_uri, "created": time.time()}
        return json.dumps(header) + "\n"

    def append(self, points: Iterable[Point], timeout: float = 10.0) -> int:
        """Append points (fsync'd); returns how many. Holds the lock."""
        rows = [
            json.dumps({"k": p.key, "v": p.value, "ts": p.timestamp, "s": p.step}) for p in points
        ]
        if not rows:
            return 0
        with self.locked(timeout):
            self.dir.mkdir(parents=True, exist_ok=True)
            size = self.path.stat().st_size if self.path.exists() else 0
            with open(self.path, "a+", encoding="utf-8") as fh:
                if not size:
                    fh.write(self._header())
                else:
                    fh.seek(size - 1)
                    if fh.read(1) != "\n":
                        fh.write("\n")  # after a torn line, start on a fresh one
                fh.write("\n".join(rows) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            # counting, not re-reading: appends stay O(new points) in a long outage
            self._pending = (self._pending if size else 0) + len(rows)
        return len(rows)

    def set_end(self, status: str, reason: str | None = None) -> None:
        """Record that the run ended with ``status`` (and why) but the server could not be
        told."""
        with self.locked():
            header, points, _ = self.read()
            self.end_reason = reason
            self._rewrite(header, points, status)

    def _rewrite(self, header: dict[str, Any], points: list[Point], end: str | None) -> None:
        """Replace the journal atomically (caller holds the lock); remove it when empty."""
        self._pending = len(points)
        if not points and end is None:
            self.path.unlink(missing_ok=True)
            return
        with atomic_path(self.path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
            fh.write(json.dumps(header) + "\n" if header else self._header())
            for p in points:
                fh.write(json.dumps({"k": p.key, "v": p.value, "ts": p.timestamp, "s": p.step}))
                fh.write("\n")
            if end is not None:
                row = {"end": end, **({"reason": self.end_reason} if self.end_reason else {})}
                fh.write(json.dumps(row) + "\n")


# ---------------------------------------------------------------- sending


def _identity(key: str, value: float, timestamp: int, step: int) -> tuple[Any, ...]:
    """How a stored point is recognised: NaN equals NaN, inf is stored as max float."""
    if math.isnan(value):
        norm: Any = "nan"
    elif math.isinf(value):
        norm = math.copysign(_MAX_FLOAT, value)
    else:
        norm = float(value)
    return (key, norm, int(timestamp), int(step))


def upload(journal: Journal, client: MlflowClient, lock_timeout: float = 10.0) -> tuple[int, int]:
    """Send the journal's points the server lacks; returns (sent, skipped as already there).

    Each sent chunk is removed from the journal atomically, so an interruption at any
    point leaves a journal that a later call finishes without duplicates. Does not
    apply a recorded run end (``finish_run`` does).
    """
    with journal.locked(lock_timeout):
        header, points, end = journal.read()
        if not points:
            return 0, 0
        have: set[tuple[Any, ...]] = set()
        for key in sorted({p.key for p in points}):
            for m in client.get_metric_history(journal.run_id, key):
                have.add(_identity(m.key, m.value, m.timestamp, m.step))
        todo: list[Point] = []
        for p in points:
            ident = _identity(*p)
            if ident not in have:
                have.add(ident)  # a point journaled twice is sent once
                todo.append(p)
        skipped = len(points) - len(todo)
        sent = 0
        while todo:
            chunk = todo[:CHUNK]
            send_points(client, journal.run_id, chunk)
            del todo[: len(chunk)]
            sent += len(chunk)
            journal._rewrite(header, todo, end)
        if skipped and not sent:
            journal._rewrite(header, [], end)
    return sent, skipped
