"""Waiting for `running`, following logs, and the status/logs/monitor/stop/destroy commands."""

from __future__ import annotations

import io

import pytest
from test_vast_helpers import OFFERS, SECRETS, assert_no_secret, set_secrets

from unisim.vast.backend import FakeBackend
from unisim.vast.monitor import MonitorTimeout, follow_logs, new_lines, wait_until_running


class Clock:
    """Fake time: ``sleep`` advances ``now``; no test waits for real."""

    def __init__(self):
        self.now, self.sleeps = 0.0, []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def new_instance(fake: FakeBackend, statuses: list) -> int:
    fake.offers = [dict(o) for o in OFFERS]
    fake.statuses = statuses
    return fake.create_instance(11, image="i", disk_gb=10, env={}, onstart_cmd="x", label="l")


@pytest.fixture
def fake(monkeypatch):
    backend = FakeBackend()
    monkeypatch.setattr("unisim.vast.backend.open_backend", lambda: backend)
    return backend


def test_wait_until_running_reports_each_new_status(fake):
    iid = new_instance(fake, [None, "created", "loading", "loading", "running"])
    clock, seen = Clock(), []
    inst = wait_until_running(
        fake, iid, timeout_s=100, poll_s=10, report=seen.append, sleep=clock.sleep, clock=clock
    )
    assert inst["actual_status"] == "running"
    assert seen == [
        f"instance {iid}: {s}" for s in ("provisioning", "created", "loading", "running")
    ]
    assert clock.sleeps == [10, 10, 10, 10]


def test_wait_gives_up_after_the_timeout(fake):
    iid = new_instance(fake, ["loading"])
    clock = Clock()
    with pytest.raises(MonitorTimeout, match="still loading after 60 s; giving up"):
        wait_until_running(fake, iid, timeout_s=60, poll_s=10, sleep=clock.sleep, clock=clock)
    assert clock.now == 60 and len(clock.sleeps) == 6


@pytest.mark.parametrize("state", ["exited", "unknown", "offline"])
def test_states_that_never_run_fail_at_once(fake, state):
    iid = new_instance(fake, ["loading", state, "running"])  # "running" is never reached
    clock = Clock()
    with pytest.raises(MonitorTimeout, match=f"is {state}; it will not start running"):
        wait_until_running(fake, iid, timeout_s=1e6, poll_s=1, sleep=clock.sleep, clock=clock)
    assert clock.sleeps == [1]


def test_wait_for_a_missing_or_stopped_instance(fake):
    with pytest.raises(MonitorTimeout, match="does not exist"):
        wait_until_running(fake, 5, timeout_s=10, poll_s=1, sleep=lambda s: None)
    iid = new_instance(fake, ["running"])
    fake.stop_instance(iid)
    with pytest.raises(MonitorTimeout, match="is stopped"):
        wait_until_running(fake, iid, timeout_s=10, poll_s=1, sleep=lambda s: None)


@pytest.mark.parametrize(
    ("previous", "current", "new"),
    [
        ([], ["a", "b"], ["a", "b"]),
        (["a", "b"], ["a", "b"], []),
        (["a", "b"], ["a", "b", "c"], ["c"]),
        (["a", "b", "c"], ["b", "c", "d", "e"], ["d", "e"]),  # the tail window moved
        (["x", "x"], ["x", "x", "x"], ["x"]),  # repeated lines
        (["a", "b"], ["c", "d"], ["c", "d"]),  # no overlap: more than a tail went by
    ],
)
def test_new_lines(previous, current, new):
    assert new_lines(previous, current) == new


def test_follow_logs_prints_each_line_once_masks_secrets_and_stops(fake):
    iid = new_instance(fake, ["running"])
    fake.append_log(iid, "cloning\ninstalling")
    steps = iter(
        [
            lambda: fake.append_log(iid, f"password is {SECRETS['MLFLOW_TRACKING_PASSWORD']}"),
            lambda: fake.append_log(iid, "epoch 1\nepoch 2"),
            lambda: (fake.append_log(iid, "job ended with exit code 0"), fake.stop_instance(iid)),
        ]
    )
    shown = []
    final = follow_logs(
        fake,
        iid,
        poll_s=5,
        write=shown.append,
        tail=3,
        secrets=SECRETS.values(),
        sleep=lambda s: next(steps)(),
    )
    assert final == "stopped"
    assert shown == [
        "cloning",
        "installing",
        "password is ****",
        "epoch 1",
        "epoch 2",
        "job ended with exit code 0",
    ]


def test_cli_monitor_follows_until_the_instance_ends(fake, cli):
    iid = new_instance(fake, ["loading", "running", "running", "exited"])
    fake.append_log(iid, "epoch 1 val/nrmse 0.2")
    code, out, err = cli("vast", "monitor", str(iid), "--poll-interval", "0")
    assert code == 0, err
    assert out.splitlines() == [
        f"instance {iid}: loading",
        f"instance {iid}: running",
        "epoch 1 val/nrmse 0.2",
        f"instance {iid}: exited",
    ]


def test_cli_monitor_gives_up_with_one_line(fake, cli):
    iid = new_instance(fake, ["loading"])
    code, out, err = cli("vast", "monitor", str(iid), "--timeout", "0", "--poll-interval", "0")
    assert code == 2 and err == f"error: instance {iid} is still loading after 0 s; giving up\n"
    assert iid in fake.instances  # monitor watches; only a failed launch destroys


def test_cli_status_logs_stop_destroy(fake, cli, monkeypatch):
    set_secrets(monkeypatch)
    iid = new_instance(fake, ["running"])
    fake.append_log(iid, f"uri={SECRETS['MLFLOW_TRACKING_URI']}\nline 2")
    code, out, err = cli("vast", "status", str(iid))
    assert code == 0 and "actual_status    running" in out and "RTX 4090" in out
    code, out, err = cli("vast", "logs", str(iid), "--tail", "5")
    assert code == 0 and out == "uri=****\nline 2\n"
    assert_no_secret(out, err)
    assert cli("vast", "stop", str(iid))[0] == 0
    assert fake.instances[iid]["actual_status"] == "stopped"
    monkeypatch.setattr("sys.stdin", io.StringIO("n\n"))
    code, out, err = cli("vast", "destroy", str(iid))  # asks first; "n": nothing happens
    assert code != 0 and "destroy instance 1000 and its disk?" in out and iid in fake.instances
    assert cli("vast", "destroy", str(iid), "--yes")[0] == 0
    assert fake.instances == {} and fake.destroyed == [iid]
    code, out, err = cli("vast", "status", str(iid))
    assert code == 2 and err == f"error: instance {iid} not found\n"
