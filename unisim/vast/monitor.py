"""Watch a rented instance: wait until it runs, then follow its logs until it stops.

    inst = wait_until_running(backend, 1234, timeout_s=900, poll_s=10, report=print)
    final = follow_logs(backend, 1234, poll_s=10, write=print)   # -> "destroyed" | "stopped" | ...
    final = monitor(backend, 1234, timeout_s=900, poll_s=10, write=print)   # both

The original ``monitor_instance.sh`` polled the status every 10 s (60 tries), then
tailed the logs every 20 s. Here ``exited``, ``unknown`` and ``offline`` never count
as running (Vast: such an instance will not get there), so the wait gives up at
once with the reason; otherwise it gives up after ``timeout_s``. ``sleep`` and
``clock`` are parameters so tests run without waiting.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from unisim.vast.backend import VastBackend, VastError
from unisim.vast.env import redact

RUNNING = "running"
NEVER_RUNNING = frozenset({"exited", "unknown", "offline"})
GONE = "destroyed"  # our name for an instance the API no longer shows


class MonitorTimeout(VastError):
    """The instance did not reach ``running`` in time, or reached a state it cannot leave."""


def _status(inst: dict[str, Any] | None) -> str:
    if inst is None:
        return GONE
    return str(inst.get("actual_status") or "provisioning")


def _why(inst: dict[str, Any]) -> str:
    msg = " ".join(str(inst.get("status_msg") or "").split())[:160]
    return f": {msg}" if msg else ""


def wait_until_running(
    backend: VastBackend,
    instance_id: int,
    *,
    timeout_s: float,
    poll_s: float,
    report: Callable[[str], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """Poll ``show_instance`` until ``actual_status == "running"``; ``MonitorTimeout`` if not."""
    deadline = clock() + timeout_s
    last = None
    while True:
        inst = backend.show_instance(instance_id)
        status = _status(inst)
        if status != last and report is not None:
            report(f"instance {instance_id}: {status}")
        last = status
        if inst is None:
            raise MonitorTimeout(f"instance {instance_id} does not exist (destroyed?)")
        if status == RUNNING:
            return inst
        if status in NEVER_RUNNING:
            raise MonitorTimeout(
                f"instance {instance_id} is {status}{_why(inst)}; it will not start running"
            )
        if status == "stopped" and inst.get("intended_status") == "stopped":
            raise MonitorTimeout(f"instance {instance_id} is stopped (start it first)")
        if clock() >= deadline:
            raise MonitorTimeout(
                f"instance {instance_id} is still {status} after {timeout_s:g} s{_why(inst)}; "
                "giving up"
            )
        sleep(poll_s)


def new_lines(previous: list[str], current: list[str]) -> list[str]:
    """Lines of ``current`` (a log tail) not yet shown, given the tail shown before.

    A later tail is the earlier one shifted forward: ``current = previous[j:] + new``;
    the smallest such ``j`` gives the longest overlap. No overlap: all lines are new.
    """
    for j in range(len(previous)):
        overlap = len(previous) - j
        if overlap <= len(current) and previous[j:] == current[:overlap]:
            return current[overlap:]
    return list(current)


def follow_logs(
    backend: VastBackend,
    instance_id: int,
    *,
    poll_s: float,
    write: Callable[[str], None],
    tail: int = 500,
    secrets: Iterable[str] = (),
    sleep: Callable[[float], None] = time.sleep,
    max_polls: int | None = None,
) -> str:
    """Print new log lines every ``poll_s`` until the instance stops running; its final state.

    Known secret values are replaced by ``****`` in every line written.
    """
    secrets = list(secrets)
    shown: list[str] = []
    polls = 0
    while True:
        inst = backend.show_instance(instance_id)
        status = _status(inst)
        if inst is not None:
            lines = backend.logs(instance_id, tail=tail).splitlines()
            for line in new_lines(shown, lines):
                write(redact(line, secrets))
            shown = lines
        if status != RUNNING:
            return status
        polls += 1
        if max_polls is not None and polls >= max_polls:
            return status
        sleep(poll_s)


def monitor(
    backend: VastBackend,
    instance_id: int,
    *,
    timeout_s: float,
    poll_s: float,
    write: Callable[[str], None],
    follow: bool = True,
    tail: int = 500,
    secrets: Iterable[str] = (),
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> str:
    """``unisim vast monitor``: wait until running, then (``follow``) follow the logs."""
    wait_until_running(
        backend,
        instance_id,
        timeout_s=timeout_s,
        poll_s=poll_s,
        report=write,
        sleep=sleep,
        clock=clock,
    )
    if not follow:
        return RUNNING
    final = follow_logs(
        backend, instance_id, poll_s=poll_s, write=write, tail=tail, secrets=secrets, sleep=sleep
    )
    write(f"instance {instance_id}: {final}")
    return final
