"""Local metric journal: the points a run could not send, kept on disk until they are.

    journal = Journal(run_id, tracking_uri="http://127.0.0.1:5000")
    journal.append([Point("train/loss", 0.25, 1764400000000, 3)])
    upload(journal, client)              # -> (sent, skipped); idempotent
    results = sync_journals()            # what `unisim sync` does for every journal

The MetricLogger (unisim/tracking.py) writes here when the tracking server cannot
be reached, and replays the journal when it answers again; whatever is left when
a run ends is uploaded later by ``unisim sync``. One file per run,
``<UNISIM_JOURNAL_DIR or ./mlruns/journal>/<run_id>.jsonl``, one JSON object a line:

    {"run_id": "ab12...", "tracking_uri": "http://host:5000", "created": 1764400000.0}
    {"k": "train/loss", "v": 0.25, "ts": 1764400000000, "s": 3}     # a metric point
    {"end": "FINISHED"}             # the run's end could not be recorded on the server

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
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from unisim.fsutil import atomic_path

if TYPE_CHECKING:
    from mlflow import MlflowClient

log = logging.getLogger(__name__)

JOURNAL_DIR_ENV = "UNISIM_JOURNAL_DIR"
UNSENT_TAG = "unisim.metrics_unsent"  # set on a run whose points wait in a journal
CHUNK = 1000  # MLflow's log_batch limit on metrics
_MAX_FLOAT = 1.7976931348623157e308  # SQL stores keep +-inf as +-max float


class Point(NamedTuple):
    """One metric point as MLflow stores it: (key, value, timestamp in ms, step)."""

    key: str
    value: float
    timestamp: int
    step: int


def journal_dir(directory: str | Path | None = None) -> Path:
    """The journal folder: the argument, else $UNISIM_JOURNAL_DIR, else ./mlruns/journal."""
    folder = directory or os.environ.get(JOURNAL_DIR_ENV) or Path.cwd() / "mlruns" / "journal"
    return Path(folder).resolve()


def _strip_password(uri: str | None) -> str | None:
    if not uri:
        return uri
    from unisim.server.settings import redact_uri

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
        """(header, points, end status or None) as stored now."""
        header: dict[str, Any] = {}
        points: list[Point] = []
        end = None
        for row in self._lines():
            if "k" in row:
                points.append(Point(row["k"], float(row["v"]), int(row["ts"]), int(row["s"])))
            elif "end" in row:
                end = row["end"]
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

    def set_end(self, status: str) -> None:
        """Record that the run ended with ``status`` but the server could not be told."""
        with self.locked():
            header, points, _ = self.read()
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
                fh.write(json.dumps({"end": end}) + "\n")


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


def is_outage(exc: BaseException) -> bool:
    """True for errors worth retrying later (unreachable, 5xx, auth); False for bad input."""
    from mlflow.exceptions import MlflowException

    if isinstance(exc, MlflowException):
        return exc.error_code != "INVALID_PARAMETER_VALUE"
    return isinstance(exc, Exception)


@contextlib.contextmanager
def fail_fast_http(timeout_s: int = 10, max_retries: int = 1) -> Iterator[None]:
    """Short MLflow HTTP timeout and few retries inside the block (defaults: 120 s, 7 retries).

    MLflow reads these variables at each request, so this works per call; it changes the
    process environment, so other threads' requests in the block get the same limits.
    """
    new = {
        "MLFLOW_HTTP_REQUEST_TIMEOUT": str(timeout_s),
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": str(max_retries),
        "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "0",
        "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0",
    }
    old = {k: os.environ.get(k) for k in new}
    os.environ.update(new)
    try:
        yield
    finally:
        for key, value in old.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def send_points(client: MlflowClient, run_id: str, points: list[Point]) -> None:
    """One ``log_batch`` (at most CHUNK points), synchronous."""
    from mlflow.entities import Metric

    metrics = [Metric(p.key, p.value, p.timestamp, p.step) for p in points]
    client.log_batch(run_id, metrics=metrics, synchronous=True)


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


def finish_run(journal: Journal, client: MlflowClient) -> str | None:
    """Apply a recorded run end (status tag, terminal status) and clear the unsent tag."""
    from unisim.tracking import STATUS_FAILED, STATUS_RUNNING, STATUS_SUCCESS, TAG_STATUS

    with journal.locked():
        header, points, end = journal.read()
        run = client.get_run(journal.run_id)
        if not points and UNSENT_TAG in run.data.tags:
            client.delete_tag(journal.run_id, UNSENT_TAG)
        if end is None:
            return None
        if run.data.tags.get(TAG_STATUS) in (None, STATUS_RUNNING):
            label = STATUS_SUCCESS if end == "FINISHED" else STATUS_FAILED
            client.set_tag(journal.run_id, TAG_STATUS, label)
        if run.info.status == "RUNNING":
            client.set_terminated(journal.run_id, end)
        journal._rewrite(header, points, None)
    return end


# ---------------------------------------------------------------- unisim sync


@dataclass
class SyncResult:
    run_id: str
    uri: str | None
    sent: int = 0
    skipped: int = 0
    ended: str | None = None
    error: str | None = None  # one line; the journal is kept


def list_journals(directory: str | Path | None = None) -> list[Journal]:
    folder = journal_dir(directory)
    return [Journal(p.stem, directory=folder) for p in sorted(folder.glob("*.jsonl"))]


def sync_journals(
    directory: str | Path | None = None,
    tracking_uri: str | None = None,
    run_id: str | None = None,
) -> list[SyncResult]:
    """Upload every journal (or one run's) to its server, exactly once.

    ``tracking_uri`` overrides the URI recorded in the journals (a moved server, or
    one whose URI held a password). A journal that fails stays for the next sync.
    """
    from unisim.tracking import configure, resolve_tracking

    results = []
    for journal in list_journals(directory):
        if run_id and journal.run_id != run_id:
            continue
        header = journal.read()[0]
        uri = tracking_uri or header.get("tracking_uri")
        result = SyncResult(journal.run_id, uri)
        results.append(result)
        if not uri:
            result.error = "no tracking URI recorded; pass --tracking-uri"
            continue
        try:
            client = configure(resolve_tracking(uri))
            with fail_fast_http(timeout_s=30, max_retries=2):
                result.sent, result.skipped = upload(journal, client, lock_timeout=0)
                result.ended = finish_run(journal, client)
        except JournalBusy as exc:
            result.error = f"{exc} (a live run or another sync); try again later"
        except Exception as exc:
            result.error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
    return results
