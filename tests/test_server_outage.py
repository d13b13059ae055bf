"""No metric point lost or duplicated when the tracking server goes away.

A real ``mlflow server`` (SQLite store) is stopped for ~20 s while a run logs
steadily through the MetricLogger in a thread, then restarted on the same port;
and a run ends while the server is down, after which ``unisim sync`` uploads
the rest. Slow: each (re)start of the server takes 30-60 s on a busy box.
"""

from __future__ import annotations

import threading
import time

import pytest
from server_fixtures import ServerHandle

from unisim.tracking import STATUS_SUCCESS, TAG_STATUS, TrackingTarget, start_run
from unisim.tracking.journal import Journal

pytestmark = pytest.mark.slow
KEYS = ("train/loss", "val/nrmse")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("outage")
    handle = ServerHandle(f"sqlite:///{tmp / 'mlflow.db'}", tmp)
    handle.start()
    yield handle
    handle.stop()


@pytest.fixture
def target(server, monkeypatch):
    server.ensure_running()  # a failed test may have left it down
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server.uri)
    return TrackingTarget(uri=server.uri, source="env")


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def assert_every_point_once(uri: str, run_id: str, steps: int) -> None:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    for i, key in enumerate(KEYS):
        got = sorted((m.step, m.value) for m in client.get_metric_history(run_id, key))
        assert got == [(s, float(s * 10 + i)) for s in range(steps)], key  # all, none twice


def test_server_down_20s_mid_run_loses_and_duplicates_nothing(server, target):
    stop, holder, flush_s = threading.Event(), {}, []

    def train() -> None:
        with start_run(kind="train", experiment="outage", target=target) as run:
            holder["run"] = run
            step = 0
            while not stop.is_set():
                run.metrics.log({k: float(step * 10 + i) for i, k in enumerate(KEYS)}, step=step)
                t = time.monotonic()
                run.metrics.flush()  # an "epoch end"
                flush_s.append(time.monotonic() - t)
                step += 1
                holder["steps"] = step
                time.sleep(0.1)

    thread = threading.Thread(target=train, daemon=True)
    thread.start()
    try:
        wait_for(lambda: "run" in holder and holder["run"].metrics.sent >= 20, 60, "first points")
        run = holder["run"]

        server.stop()
        steps_at_stop = holder["steps"]
        time.sleep(20)
        assert holder["steps"] > steps_at_stop + 50  # training went on (~10 steps/s)
        assert run.metrics.journal.pending > 0  # points went to the journal, not only RAM
        assert max(flush_s) < 5  # no flush stalled training

        server.start()  # same port
        wait_for(lambda: run.metrics.pending == 0, 90, "journaled points to be sent")
    finally:
        stop.set()
        thread.join(60)
    assert not thread.is_alive()

    assert_every_point_once(server.uri, run.run_id, holder["steps"])
    from mlflow import MlflowClient

    info = MlflowClient(tracking_uri=server.uri).get_run(run.run_id)
    assert info.info.status == "FINISHED" and info.data.tags[TAG_STATUS] == STATUS_SUCCESS
    assert "unisim.metrics_unsent" not in info.data.tags
    assert not Journal(run.run_id).exists


def test_run_ending_while_server_is_down_is_finished_by_sync(server, target, cli):
    with start_run(kind="train", experiment="outage", target=target) as run:
        for step in range(5):
            run.metrics.log({k: float(step * 10 + i) for i, k in enumerate(KEYS)}, step=step)
        assert run.metrics.flush()
        server.stop()
        for step in range(5, 12):
            run.metrics.log({k: float(step * 10 + i) for i, k in enumerate(KEYS)}, step=step)
            assert run.metrics.flush() is False
        started = time.monotonic()
    assert time.monotonic() - started < 30  # the run end neither raised nor stalled
    header, points, end = Journal(run.run_id).read()
    assert len(points) == 14 and end == "FINISHED" and header["tracking_uri"] == server.uri

    code, out, err = cli("sync")  # server still down: kept, exit 1
    assert code == 1 and "journal kept" in err and Journal(run.run_id).pending == 14

    server.start()
    code, out, err = cli("sync")
    assert code == 0, err
    said = " ".join(out.split())  # rich wraps long lines
    assert f"run {run.run_id}: sent 14 points, 0 already on the server, run ended FINISHED" in said
    assert_every_point_once(server.uri, run.run_id, 12)
    from mlflow import MlflowClient

    info = MlflowClient(tracking_uri=server.uri).get_run(run.run_id)
    assert info.info.status == "FINISHED" and info.data.tags[TAG_STATUS] == STATUS_SUCCESS

    code, out, _ = cli("sync")
    assert code == 0 and "nothing to sync" in out
    assert_every_point_once(server.uri, run.run_id, 12)
