"""``unisim sync``: upload the journals runs left behind and record the ends they missed.

    results = sync_journals()                      # every journal under ./mlruns/journal
    results = sync_journals(run_id="ab12...", tracking_uri="http://host:5000")
    finish_run(journal, store)                     # apply one journal's recorded run end

A journal (journal.py) holds the metric points a run could not send and, when the
server was down at the end, the status the run ended with and why. Sync is exactly
once: ``upload`` skips points the server already has, and ``finish_run`` writes a
status (with the recorded failure reason) only over ``running``. ``run_id`` with no
journal is an error unless the store knows that run (then there is nothing to do).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from unisim.errors import UnisimError
from unisim.tracking.client import Store, connect
from unisim.tracking.journal import Journal, JournalBusy, journal_dir, upload
from unisim.tracking.queries import RUN_ID_RE
from unisim.tracking.schema import TAG_FAILURE_REASON, TAG_METRICS_UNSENT, TAG_STATUS, Status
from unisim.tracking.store import resolve_tracking
from unisim.tracking.transport import bound_s, fail_fast_http


def _check_known(run_id: str, tracking_uri: str | None, directory: str | Path | None) -> None:
    """No journal for ``run_id``: fine for a run the store knows, else a one-line error."""
    folder = journal_dir(directory)
    if RUN_ID_RE.match(run_id):
        store = connect(resolve_tracking(tracking_uri, read_only=True))
        if store.find_run(run_id) is not None:
            return  # a known run with nothing left to send
    raise UnisimError(f"--run {run_id}: no such run, and no journal for it in {folder}")


def finish_run(journal: Journal, store: Store) -> str | None:
    """Apply a recorded run end (status tag, terminal status) and clear the unsent tag."""
    with journal.locked():
        header, points, end = journal.read()
        run = store.get_run(journal.run_id)
        if not points and TAG_METRICS_UNSENT in run.data.tags:
            store.delete_tag(journal.run_id, TAG_METRICS_UNSENT)
        if end is None:
            return None
        if run.data.tags.get(TAG_STATUS) in (None, Status.RUNNING):
            if end == "FINISHED":
                store.set_status(journal.run_id, Status.SUCCESS)
            else:
                reason = (
                    run.data.tags.get(TAG_FAILURE_REASON)
                    or journal.end_reason
                    or f"ended {end} (recorded by sync)"
                )
                store.set_status(journal.run_id, Status.FAILED, reason=reason)
        if run.info.status == "RUNNING":
            store.end_run(journal.run_id, end)
        if end != "FINISHED":
            store.fail_pending_models(journal.run_id, run.info.experiment_id)
        journal._rewrite(header, points, None)
    return end


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
    results = []
    journals = list_journals(directory)
    if run_id and run_id not in {j.run_id for j in journals}:
        _check_known(run_id, tracking_uri, directory)
        return []
    for journal in journals:
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
            store = connect(resolve_tracking(uri))
            with fail_fast_http(timeout_s=bound_s(), max_retries=1):
                result.sent, result.skipped = upload(journal, store.client, lock_timeout=0)
                result.ended = finish_run(journal, store)
        except JournalBusy as exc:
            result.error = f"{exc} (a live run or another sync); try again later"
        except Exception as exc:
            result.error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}"
    return results
