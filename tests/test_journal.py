"""The MetricLogger's outage path and the local metric journal, on real SQLite stores.

An "unreachable server" is an http URI on a port where nothing listens (connection
refused); the real-server outage tests are in test_server_outage.py.
"""

from __future__ import annotations

import json
import time

import pytest
from server_fixtures import free_port

from unisim.tracking import (
    STATUS_SUCCESS,
    TAG_STATUS,
    MetricLogger,
    get_or_create_experiment,
    start_run,
)
from unisim.tracking.journal import Journal, Point, upload


def dead_client():
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=f"http://127.0.0.1:{free_port()}")


def new_run(client, store) -> str:
    exp = get_or_create_experiment(client, "journal", store)
    return client.create_run(exp).info.run_id


def history(client, run_id: str, key: str = "train/loss") -> list[tuple[int, float]]:
    return sorted((m.step, m.value) for m in client.get_metric_history(run_id, key))


def test_unreachable_server_flush_returns_fast_and_memory_stays_bounded(client, store):
    run_id = new_run(client, store)
    logger = MetricLogger(dead_client(), run_id, max_buffer=10)
    for step in range(25):
        logger.log({"train/loss": float(step)}, step=step)
    assert logger.journal.pending >= 20  # log() spilled past max_buffer, without any request

    started = time.monotonic()
    assert logger.flush() is False
    assert time.monotonic() - started < 5  # MLflow alone would retry 7 times with backoff
    assert logger.pending == 25 and logger.journal.pending == 25  # all on disk, none lost
    rows = [json.loads(x) for x in logger.journal.path.read_text().splitlines()]
    assert rows[0]["run_id"] == run_id
    assert sorted(r["s"] for r in rows[1:]) == list(range(25))

    logger.log({"train/loss": 25.0}, step=25)
    started = time.monotonic()
    assert logger.flush() is False  # inside the backoff window: no request at all
    assert time.monotonic() - started < 0.5
    assert logger.pending == 26


def test_journaled_points_are_sent_once_when_the_server_answers_again(client, store):
    run_id = new_run(client, store)
    logger = MetricLogger(dead_client(), run_id, max_buffer=10)
    logger.BACKOFF_S = 0.0
    for step in range(15):
        logger.log({"train/loss": float(step)}, step=step)
    assert logger.flush() is False

    logger.client = client  # the server is back
    for step in range(15, 20):
        logger.log({"train/loss": float(step)}, step=step)
    assert logger.flush() is True
    assert logger.pending == 0 and logger.sent == 20
    assert not logger.journal.path.exists()
    assert history(client, run_id) == [(s, float(s)) for s in range(20)]


def test_upload_skips_points_the_server_already_has(client, store):
    """A crash between sending and bookkeeping must not duplicate points."""
    run_id = new_run(client, store)
    journal = Journal(run_id, tracking_uri=store.uri)
    points = [Point("train/loss", float(s), 1_700_000_000_000 + s, s) for s in range(10)]
    points.append(Point("val/nrmse", float("nan"), 1_700_000_000_000, 0))
    journal.append(points)
    from unisim.tracking.transport import send_points

    send_points(client, run_id, points[:4] + points[-1:])  # sent, but still journaled

    assert upload(journal, client) == (6, 5)
    assert history(client, run_id) == [(s, float(s)) for s in range(10)]
    assert len(client.get_metric_history(run_id, "val/nrmse")) == 1
    assert not journal.path.exists()
    assert upload(journal, client) == (0, 0)


def test_run_end_with_unsent_points_does_not_raise_and_sync_uploads_them(client, store, cli):
    with start_run(kind="train", experiment="journal", target=store) as run:
        run.metrics.client = dead_client()  # the server goes away mid-run
        for step in range(5):
            run.metrics.log({"train/loss": float(step)}, step=step)
        assert run.metrics.flush() is False
    finished = client.get_run(run.run_id)
    assert finished.info.status == "FINISHED"
    assert finished.data.tags[TAG_STATUS] == STATUS_SUCCESS  # journaled points are not a failure
    assert finished.data.tags["unisim.metrics_unsent"] == "5"
    assert history(client, run.run_id) == []

    code, out, err = cli("sync")
    assert code == 0, err
    assert f"run {run.run_id}: sent 5 points, 0 already on the server" in out
    assert history(client, run.run_id) == [(s, float(s)) for s in range(5)]
    assert "unisim.metrics_unsent" not in client.get_run(run.run_id).data.tags

    code, out, _ = cli("sync")  # exactly once: nothing left
    assert code == 0 and "nothing to sync" in out
    assert len(history(client, run.run_id)) == 5


def test_sync_ends_a_run_whose_end_could_not_be_recorded(client, store, cli):
    run_id = new_run(client, store)  # left RUNNING, as when the server was down at the end
    journal = Journal(run_id, tracking_uri=store.uri)
    journal.append([Point("train/loss", 0.5, 1_700_000_000_000, 0)])
    journal.set_end("FINISHED")

    code, out, err = cli("sync", "--run", run_id)
    assert code == 0, err
    assert "sent 1 points" in out and "run ended FINISHED" in out
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.tags[TAG_STATUS] == STATUS_SUCCESS
    assert not journal.path.exists()


def test_sync_keeps_the_journal_when_the_server_is_still_down(cli, tmp_path):
    journal = Journal("deadbeef", tracking_uri=f"http://127.0.0.1:{free_port()}")
    journal.append([Point("train/loss", 1.0, 1_700_000_000_000, 0)])
    started = time.monotonic()
    code, out, err = cli("sync")
    assert code == 1
    assert time.monotonic() - started < 30
    assert "run deadbeef" in err and "journal kept" in err
    assert journal.path.exists() and Journal("deadbeef").pending == 1


def test_invalid_points_raise_instead_of_being_retried_forever(client, store):
    run_id = new_run(client, store)
    logger = MetricLogger(client, run_id)
    logger.log({"bad!key": 1.0})
    from mlflow.exceptions import MlflowException

    with pytest.raises(MlflowException):
        logger.flush()


def test_journal_never_stores_a_password_and_survives_a_torn_line(tmp_path):
    journal = Journal("r1", tracking_uri="http://alice:s3cret@mlflow.internal:5000")
    journal.append([Point("a", 1.0, 1, 0)])
    with open(journal.path, "a") as fh:
        fh.write('{"k": "a", "v": 2')  # a crash mid-append
    journal.append([Point("a", 3.0, 3, 2)])
    text = journal.path.read_text()
    assert "s3cret" not in text and "alice@mlflow.internal:5000" in text
    header, points, end = Journal("r1").read()
    assert [p.value for p in points] == [1.0, 3.0] and end is None
