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


def test_training_that_ends_in_a_long_outage_journals_its_end(server, target, tmp_path, cli):
    """The server goes down mid-training and stays down past the end: the command gives
    up on it within the bound, says so in one line naming `unisim sync` and `--resume`,
    and exits 4; sync records the run FAILED with the reason; --resume finishes it."""
    import subprocess
    import sys

    from conftest import subprocess_env
    from mlflow import MlflowClient
    from test_pipeline import write_config

    path = write_config(tmp_path)
    text = path.read_text().replace("epochs: 2", "epochs: 100000\n  max_time_s: 40")
    path.write_text(text)
    env = {**subprocess_env(), "UNISIM_TRACKING_TIMEOUT_S": "3", "MLFLOW_TRACKING_URI": server.uri}
    args = [sys.executable, "-m", "unisim", "train", str(path), "--no-progress"]
    log = tmp_path / "train.log"
    client = MlflowClient(tracking_uri=server.uri)
    with log.open("w") as out:
        proc = subprocess.Popen(args, cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:

        def trained() -> bool:
            exp = client.get_experiment_by_name("tiny")
            runs = client.search_runs([exp.experiment_id]) if exp else []
            return bool(runs and client.get_metric_history(runs[0].info.run_id, "train/loss"))

        wait_for(trained, 240, "the first epoch")
        (run,) = client.search_runs([client.get_experiment_by_name("tiny").experiment_id])
        server.stop()
        stopped = time.monotonic()
        proc.wait(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    said = log.read_text()
    assert proc.returncode == 4, said[-3000:]
    assert time.monotonic() - stopped < 40 + 30  # training's own budget, then the 3 s bound
    assert "Traceback" not in said and len(said.splitlines()) < 10, said
    error = [ln for ln in said.splitlines() if ln.startswith("error: ")][-1]
    assert "did not answer within 3 s" in error and run.info.run_id in error
    assert "unisim sync" in error and "--resume" in error
    journal = Journal(run.info.run_id, directory=tmp_path / "mlruns" / "journal")
    assert journal.read()[2] == "FAILED" and journal.end_reason.startswith(
        "tracking server unreachable"
    )

    server.start()
    code, out, err = cli("sync", "--journal-dir", str(tmp_path / "mlruns" / "journal"))
    assert code == 0, err
    got = client.get_run(run.info.run_id)
    assert got.info.status == "FAILED"
    assert got.data.tags["unisim.failure_reason"].startswith("tracking server unreachable")

    proc = subprocess.run([*args, "--resume"], cwd=tmp_path, env=env, capture_output=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = client.get_run(run.info.run_id)
    assert got.info.status == "FINISHED" and "unisim.failure_reason" not in got.data.tags
