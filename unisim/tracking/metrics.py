"""Batched metric logging that never stalls training on the tracking server.

    logger = MetricLogger(client, run_id)
    logger.log({"train/loss": 0.1}, step=1)   # buffered, no I/O
    logger.flush()                            # one log_batch per 1,000 points; False if down
    logger.close()                            # at run end; what is left waits in the journal

Used by ``TrackedRun`` (runs.py); the journal (journal.py) keeps what could not be sent.
"""

from __future__ import annotations

import contextlib
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

from unisim.tracking.journal import Journal, JournalBusy, upload
from unisim.tracking.transport import (
    CHUNK,
    Point,
    describe_error,
    fail_fast_http,
    is_outage,
    note_down,
    note_up,
    send_points,
    unreachable,
)

if TYPE_CHECKING:
    from mlflow import MlflowClient

log = logging.getLogger(__name__)


class MetricLogger:
    """Buffers metric points and sends them with ``log_batch``; rides out server outages.

    ``log`` never talks to the server. ``flush`` sends the run's journal (older
    points, if any) then the buffer, in chunks of 1,000, with a 5 s HTTP timeout
    and no HTTP retry. When the server cannot be reached it returns False at once,
    moves the buffered points into the run's local journal (journal.py) and
    tries again on a later flush after a backoff (1, 2, 4 ... 15 s), so training
    never waits on the server and memory stays under ``max_buffer`` points (``log``
    spills beyond that too). ``close`` (run end) makes a last attempt; what is
    still unsent stays in the journal for ``unisim sync``. Invalid points
    (MLflow's INVALID_PARAMETER_VALUE) raise: retrying cannot fix them.
    """

    # MLflow's HTTP defaults (120 s timeout, 7 retries with exponential backoff) would stall
    # a flush for minutes while the server is down; these apply inside the send path only.
    HTTP_TIMEOUT_S = 5
    FLUSH_RETRIES = 0  # the logger's own backoff is the retry
    END_RETRIES = 2  # run end (close, tags, end_run): a blip should not leave it to sync
    BACKOFF_S = 1.0  # then 2, 4, 8, 15, 15 ... s between attempts while unreachable
    MAX_BACKOFF_S = 15.0

    def __init__(
        self,
        client: MlflowClient,
        run_id: str,
        *,
        max_buffer: int = 10_000,
        journal_dir: str | Path | None = None,
    ) -> None:
        self.client = client
        self.run_id = run_id
        self.max_buffer = max_buffer
        uri = getattr(client, "tracking_uri", None)
        self.journal = Journal(run_id, tracking_uri=uri, directory=journal_dir)
        self._buffer: list[tuple[str, float, int, int]] = []  # (key, value, timestamp ms, step)
        self.sent = 0
        self._failures = 0
        self._retry_at = 0.0  # time.monotonic() before which flush does not try the server

    def log(
        self, metrics: dict[str, float], step: int = 0, timestamp_ms: int | None = None
    ) -> None:
        ts = timestamp_ms if timestamp_ms is not None else int(time.time() * 1000)
        for key, value in metrics.items():
            self._buffer.append((key, float(value), int(ts), int(step)))
        if len(self._buffer) > self.max_buffer:
            self._spill()

    @property
    def pending(self) -> int:
        """Points not yet sent: in memory plus in the journal."""
        return len(self._buffer) + self.journal.pending

    def fail_fast(self, retries: int | None = None) -> contextlib.AbstractContextManager[None]:
        """Short MLflow HTTP timeout and few retries in the block (default: the run-end ones)."""
        return fail_fast_http(self.HTTP_TIMEOUT_S, self.END_RETRIES if retries is None else retries)

    def _spill(self) -> None:
        """Move the buffer into the journal; if the journal is busy, keep it in memory."""
        try:
            self.journal.append([Point(*p) for p in self._buffer])
        except (JournalBusy, OSError) as exc:
            log.warning(
                "run %s: could not journal %d points: %s", self.run_id, len(self._buffer), exc
            )
            return
        self._buffer.clear()

    def flush(self) -> bool:
        """Send what is pending; True when all of it reached the server (never blocks long)."""
        if not self._buffer and not self.journal.pending:
            return True
        if time.monotonic() < self._retry_at:
            self._spill()
            return False
        try:
            with self.fail_fast(self.FLUSH_RETRIES):
                if self.journal.pending:
                    self.sent += upload(self.journal, self.client)[0]
                while self._buffer:
                    chunk = self._buffer[:CHUNK]
                    send_points(self.client, self.run_id, [Point(*p) for p in chunk])
                    del self._buffer[: len(chunk)]
                    self.sent += len(chunk)
        except Exception as exc:
            if not is_outage(exc):
                raise
            if unreachable(exc):
                note_down(getattr(self.client, "tracking_uri", None))
            self._failures += 1
            delay = min(self.BACKOFF_S * 2 ** (self._failures - 1), self.MAX_BACKOFF_S)
            self._retry_at = time.monotonic() + delay
            self._spill()
            level = logging.WARNING if self._failures == 1 else logging.DEBUG
            log.log(
                level,
                "run %s: tracking server unreachable (%s); %d points kept in %s, retry in %.0f s",
                self.run_id,
                str(exc).splitlines()[0][:200],
                self.pending,
                self.journal.path,
                delay,
            )
            return False
        if self._failures:
            log.warning("run %s: tracking server answers again; journaled points sent", self.run_id)
            note_up(getattr(self.client, "tracking_uri", None))
            self._failures, self._retry_at = 0, 0.0
        return True

    def close(self, try_server: bool = True) -> int:
        """Last attempt at run end (ignores the backoff); never raises.

        ``try_server=False``: the server was just seen down; journal without trying.
        Returns the number of points left in the journal for ``unisim sync``.
        """
        self._retry_at = 0.0
        try:
            if try_server:
                self.flush()
        except Exception as exc:
            log.warning("run %s: metric points rejected: %s", self.run_id, describe_error(exc))
        if self._buffer:
            self._spill()
        if self.pending:
            log.warning(
                "run %s: %d metric points not sent; kept in %s - upload them with `unisim sync`",
                self.run_id,
                self.pending,
                self.journal.path,
            )
        return self.pending

    def defer_end(self, status: str, reason: str | None = None) -> None:
        """The server could not be told that the run ended (and why): ``unisim sync`` will."""
        try:
            self.journal.set_end(status, reason)
        except Exception as exc:
            log.warning("run %s: could not journal its end: %s", self.run_id, exc)
