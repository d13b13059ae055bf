"""``unisim ui``: the MLflow UI on a local store, on 127.0.0.1, opened on the runs table.

    url = landing_url(target)                      # runs table of the newest experiment
    code = serve_ui(target, port=5801, on_ready=print)   # blocks until Ctrl-C

The port is checked before anything starts (a busy port is one line, exit 1, never a
URL of somebody else's server), MLflow's GenAI job runner stays off
(``MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false``: unisim submits no jobs, so its extra
processes would only cost memory), the server's log goes to ``ui.log`` beside the
store, and the port is remembered in ``ui.json`` there so every link unisim prints
afterwards points at this UI (``unisim.tracking.links``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from unisim.errors import CheckFailed, UnisimError
from unisim.tracking.links import experiment_url, experiments_url, remember_ui_port
from unisim.tracking.store import TrackingTarget

HEALTH_TIMEOUT_S = 120.0  # a cold start on a busy 2-core machine takes tens of seconds


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """True when something already listens on ``host:port`` (or the port cannot be bound)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # like any server: connections of a stopped one (TIME_WAIT) do not block the port,
        # a socket still listening on it does
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def landing_url(target: TrackingTarget) -> str:
    """The runs table of the experiment with the newest activity (model-training view);
    the experiment list when there is none."""
    from unisim.tracking.snapshot import read_store

    if not target.exists:
        return experiments_url(target)
    snap = read_store(target)
    best: tuple[int, str] | None = None
    for record in snap.experiments.values():
        rows = snap.rows.get(record.experiment_id, [])
        last = max((r.last_ms for r in rows), default=0)
        if not rows and record.name == "Default":
            continue
        key = (last or record.creation_ms or 0, record.experiment_id)
        if best is None or key > best:
            best = key
    return experiment_url(target, best[1]) if best else experiments_url(target)


def _command(target: TrackingTarget, port: int) -> list[str]:
    cmd = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--backend-store-uri", target.uri, "--workers", "1"]
    if target.artifact_root:
        cmd += ["--default-artifact-root", target.artifact_root]
    return cmd


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)


def serve_ui(
    target: TrackingTarget,
    port: int,
    *,
    on_ready: Callable[[str], None],
    timeout_s: float = HEALTH_TIMEOUT_S,
) -> int:
    """Start ``mlflow server`` on ``target``, wait until healthy, call ``on_ready(url)``,
    then wait for it (Ctrl-C or SIGTERM stops both). Exit code 0; a busy port or a server that dies
    before it is healthy raises ``CheckFailed`` (exit 1) with one line."""
    from unisim.server.process import check_health

    if target.sqlite_path is None:
        raise UnisimError(f"{target.uri}: `unisim ui` serves local SQLite stores only")
    if port_in_use(port):
        raise CheckFailed(
            f"port {port} on 127.0.0.1 is already in use; choose another: unisim ui --port N"
        )
    folder = target.sqlite_path.parent
    folder.mkdir(parents=True, exist_ok=True)
    log_path = folder / "ui.log"
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    for var in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN"):
        env.pop(var, None)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            _command(target, port),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,  # its workers form one group: stopped together
        )
    base = f"http://127.0.0.1:{port}"
    # SIGTERM (a closed terminal, `kill`) ends `unisim ui` like Ctrl-C: the server goes too.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        deadline = time.monotonic() + timeout_s
        while not check_health(base):
            if proc.poll() is not None:
                raise CheckFailed(
                    f"mlflow server exited with code {proc.returncode} before it served "
                    f"{base} (see {_short(log_path)})"
                )
            if time.monotonic() > deadline:
                raise CheckFailed(f"mlflow server not healthy at {base} after {timeout_s:.0f} s")
            time.sleep(0.3)
        remember_ui_port(target, port)
        on_ready(landing_url(target))
        proc.wait()
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        _stop(proc)
        signal.signal(signal.SIGTERM, previous)


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def _short(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
