"""Start, watch and stop the ``mlflow server`` process tree that unisim owns.

    state = start_server(load_server_settings("team"))   # migrations, spawn, wait for /health
    server_status(state_path)                            # {"running": True, "healthy": True, ...}
    stop_server(state_path)                              # SIGTERM the group, SIGKILL leftovers

``mlflow server`` runs in its own session (so its process group id is its pid)
and spawns uvicorn workers and, with job execution on, a job runner with huey
consumers; MLflow's job subprocesses even start their own sessions. ``stop``
therefore kills the process group *and* every descendant it can see, and checks
the process identity (pid + create time) so a recycled pid is never killed.
The state file (``<state_dir>/server.json``) records pid, pgid, create time and
URI; secrets never go into it, into argv or into the log (they travel in env).
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from unisim.errors import UnisimError
from unisim.fsutil import atomic_write_json, atomic_write_text, read_json
from unisim.server.settings import ServerSettings, redact_uri

log = logging.getLogger(__name__)

ADMIN_PASSWORD_ENV = "MLFLOW_AUTH_ADMIN_PASSWORD"
ADMIN_USERNAME_ENV = "MLFLOW_AUTH_ADMIN_USERNAME"
SECRET_KEY_ENV = "MLFLOW_FLASK_SERVER_SECRET_KEY"
STOP_GRACE_S = 15.0  # uvicorn drains in-flight requests on SIGTERM; then SIGKILL


@dataclass(frozen=True)
class ServerState:
    """What ``start_server`` launched; stored as JSON next to the server log."""

    pid: int
    pgid: int
    create_time: float  # psutil create time: (pid, create_time) identifies the process
    uri: str
    host: str
    port: int
    workers: int
    auth: bool
    profile: str
    backend: str  # redacted backend store URI
    artifacts_destination: str
    log_file: str | None  # None in --foreground (logs go to stdout)
    started_at: float

    @classmethod
    def load(cls, path: Path) -> ServerState | None:
        data = read_json(path)
        if not isinstance(data, dict):
            return None
        try:
            return cls(**data)
        except TypeError:
            raise UnisimError(f"{path}: not a unisim server state file") from None


def _alive(state: ServerState) -> Any:
    """The psutil.Process for ``state`` if it is still that very process, else None."""
    import psutil

    try:
        proc = psutil.Process(state.pid)
        if abs(proc.create_time() - state.create_time) > 1.0:
            return None  # the pid was recycled: not ours
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        return proc
    except psutil.Error:
        return None


def check_health(uri: str, timeout: float = 2.0) -> bool:
    """True when ``GET {uri}/health`` answers 200 (the auth app leaves /health open)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy
    try:
        with opener.open(f"{uri}/health", timeout=timeout) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _mlflow_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "mlflow", *args]


def _child_env(settings: ServerSettings, extra: dict[str, str]) -> dict[str, str]:
    env = dict(os.environ)
    # The server needs no client credentials; never hand them to it.
    for var in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN"):
        env.pop(var, None)
    env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "true" if settings.job_execution else "false"
    env.update(extra)
    return env


def upgrade_database(uri: str) -> None:
    """Create or migrate the tracking schema (``mlflow db upgrade``) before the server starts.

    The URI goes through the environment, not argv: it may hold the database password.
    """
    if uri.startswith("sqlite:///"):
        Path(uri[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
    # `mlflow db upgrade URL` takes the URL only as an argument; call the same command's
    # function instead so that the URL can travel in the environment.
    code = "import os; from mlflow.db import upgrade; upgrade.callback(os.environ['_UNISIM_DB'])"
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-c", code],
        env=dict(os.environ, _UNISIM_DB=uri),
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode:
        lines = [ln for ln in (proc.stderr + proc.stdout).splitlines() if ln.strip()]
        last = (lines[-1] if lines else f"exit code {proc.returncode}").replace(
            uri, redact_uri(uri)
        )
        raise UnisimError(f"database migration failed for {redact_uri(uri)}: {last[:300]}")
    log.info("database %s is up to date (%.1f s)", redact_uri(uri), time.monotonic() - started)


def _auth_env(settings: ServerSettings) -> dict[str, str]:
    """Env for the basic-auth app: an ini without any password, the password from env only."""
    if not os.environ.get(ADMIN_PASSWORD_ENV):
        raise UnisimError(
            f"--auth needs the admin password in {ADMIN_PASSWORD_ENV} (there is no default)"
        )
    state_dir = Path(settings.state_dir)
    auth_db = settings.auth_database_uri or f"sqlite:///{state_dir / 'basic_auth.db'}"
    ini = state_dir / "basic_auth.ini"  # 0600 from creation: database_uri may hold a password
    atomic_write_text(
        ini,
        "[mlflow]\n"
        "default_permission = READ\n"
        f"database_uri = {auth_db}\n"
        f"admin_username = {os.environ.get(ADMIN_USERNAME_ENV) or 'admin'}\n"
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n",
        secret=True,
    )
    env = {"MLFLOW_AUTH_CONFIG_PATH": str(ini)}
    if not os.environ.get(SECRET_KEY_ENV):
        # CSRF key for the sign-up form; it only has to agree between this server's workers.
        env[SECRET_KEY_ENV] = secrets.token_hex(32)
        log.info("%s not set: using a random key for this server's lifetime", SECRET_KEY_ENV)
    return env


def start_server(
    settings: ServerSettings, *, foreground: bool = False, upgrade: bool = True
) -> ServerState:
    """Migrate the database, spawn ``mlflow server`` in its own session, wait for /health.

    ``upgrade=False`` skips the migration (a restart on a database just migrated).

    Raises UnisimError (one line) when a server started here still runs, the port is
    taken, a secret is missing, the migration fails, or the server dies or never
    becomes healthy (then nothing is left running).
    """
    import psutil

    state_path = settings.state_path
    old = ServerState.load(state_path)
    if old is not None and _alive(old) is not None:
        raise UnisimError(
            f"a server started here is already running at {old.uri} (pid {old.pid}); "
            "run `unisim server stop` first"
        )
    if not _port_free(settings.host, settings.port):
        raise UnisimError(f"port {settings.port} on {settings.host} is already in use")
    extra = {"MLFLOW_BACKEND_STORE_URI": settings.backend_store_uri}
    if settings.auth:
        extra.update(_auth_env(settings))
    if upgrade:
        upgrade_database(settings.backend_store_uri)

    cmd = _mlflow_cmd("server", "--host", settings.host, "--port", str(settings.port))
    cmd += ["--workers", str(settings.workers), "--serve-artifacts"]
    cmd += ["--artifacts-destination", settings.artifacts_destination]
    if settings.auth:
        cmd += ["--app-name", "basic-auth"]
    if settings.allowed_hosts:
        cmd += ["--allowed-hosts", settings.allowed_hosts]
    Path(settings.state_dir).mkdir(parents=True, exist_ok=True)
    log_file = None if foreground else settings.log_path
    out = open(log_file, "ab") if log_file else None  # noqa: SIM115 - the child keeps it
    try:
        proc = subprocess.Popen(
            cmd,
            env=_child_env(settings, extra),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT if out else None,
            start_new_session=True,  # own session and process group: stop kills the group
        )
    finally:
        if out:
            out.close()
    state = ServerState(
        pid=proc.pid,
        pgid=proc.pid,
        create_time=psutil.Process(proc.pid).create_time(),
        uri=settings.url,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        auth=settings.auth,
        profile=settings.profile,
        backend=redact_uri(settings.backend_store_uri),
        artifacts_destination=settings.artifacts_destination,
        log_file=str(log_file) if log_file else None,
        started_at=time.time(),
    )
    atomic_write_json(state_path, asdict(state))
    try:
        _wait_healthy(state, proc, settings.health_timeout_s)
    except BaseException:
        stop_server(state_path)
        raise
    return state


def _last_error(log_file: str | None) -> str:
    if not log_file or not Path(log_file).is_file():
        return ""
    lines = Path(log_file).read_text(errors="replace").splitlines()[-40:]
    errors = [ln for ln in lines if "Error" in ln or "Exception" in ln]
    return f": {(errors or lines or [''])[-1].strip()[:300]}"


def _wait_healthy(state: ServerState, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check_health(state.uri):
            return
        code = proc.poll()
        if code is not None:
            where = f"; see {state.log_file}" if state.log_file else ""
            raise UnisimError(
                f"mlflow server exited with code {code} before it was healthy"
                f"{_last_error(state.log_file)}{where}"
            )
        time.sleep(0.5)
    raise UnisimError(f"mlflow server at {state.uri} not healthy after {timeout:.0f} s")


_SERVER_PROGRAMS = ("mlflow", "uvicorn", "gunicorn", "huey")


def _group_members(pgid: int, since: float) -> list[Any]:
    """Live processes of group ``pgid`` that look like the server's and are not older than it.

    The checks matter once the root is gone: its pgid could then name someone else's group.
    """
    import psutil

    found = []
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error, OSError):
            if os.getpgid(proc.pid) != pgid or proc.create_time() < since - 1.0:
                continue
            if any(name in " ".join(proc.cmdline()) for name in _SERVER_PROGRAMS):
                found.append(proc)
    return found


def server_processes(state: ServerState) -> list[Any]:
    """Every live process of the server: the root, its descendants, its process group."""
    import psutil

    procs: dict[int, Any] = {}
    root = _alive(state)
    if root is not None:
        procs[root.pid] = root
        with contextlib.suppress(psutil.Error):
            for child in root.children(recursive=True):
                procs[child.pid] = child
    for member in _group_members(state.pgid, state.create_time):
        procs.setdefault(member.pid, member)
    return list(procs.values())


def _signal_all(procs: list[Any], pgid: int | None, sig: int) -> None:
    """Signal the group (only while its verified leader lives) and each known process."""
    import psutil

    if pgid is not None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)
    for proc in procs:  # descendants that left the group (MLflow job subprocesses)
        with contextlib.suppress(psutil.Error):
            proc.send_signal(sig)


def stop_server(state_path: Path, grace_s: float = STOP_GRACE_S) -> dict[str, Any]:
    """Stop what ``start_server`` started: SIGTERM the tree, wait, SIGKILL what is left.

    Returns ``{"was_running", "uri", "stopped": [pids], "killed": [pids]}`` and removes
    the state file. A state file whose pid now belongs to another process is just removed.
    """
    import psutil

    state = ServerState.load(state_path)
    if state is None:
        return {"was_running": False, "uri": None, "stopped": [], "killed": []}
    leader = _alive(state) is not None
    group = state.pgid if leader else None
    procs = server_processes(state) if leader else []
    if not procs:
        procs = _group_members(state.pgid, state.create_time)  # root died; the rest may not have
    pids = sorted(p.pid for p in procs)
    killed: list[int] = []
    if procs:
        _signal_all(procs, group, signal.SIGTERM)
        _, alive = psutil.wait_procs(procs, timeout=grace_s)
        # Workers may have forked after the first snapshot: look again before SIGKILL.
        late = [p for p in _group_members(state.pgid, state.create_time) if p.pid not in pids]
        alive += late
        if alive:
            killed = sorted(p.pid for p in alive)
            log.warning("server processes %s ignored SIGTERM; killing them", killed)
            _signal_all(alive, group, signal.SIGKILL)
            psutil.wait_procs(alive, timeout=5)
    state_path.unlink(missing_ok=True)
    return {"was_running": bool(procs), "uri": state.uri, "stopped": pids, "killed": killed}


def server_status(state_path: Path) -> dict[str, Any]:
    """``{"running", "healthy", "uri", "pid", "processes", "uptime_s", ...}`` (never raises)."""
    state = ServerState.load(state_path)
    if state is None:
        return {"running": False, "healthy": False, "uri": None, "state_file": str(state_path)}
    root = _alive(state)
    info = asdict(state)
    info.update(
        running=root is not None,
        healthy=root is not None and check_health(state.uri),
        processes=len(server_processes(state)) if root is not None else 0,
        uptime_s=round(time.time() - state.started_at, 1),
        state_file=str(state_path),
    )
    return info


class _StopRequested(BaseException):  # not Exception: no `except Exception` may swallow it
    """SIGTERM/SIGINT arrived while running in the foreground."""


def _request_stop(signum: int, _frame: Any) -> None:
    raise _StopRequested(signum)


def run_foreground(settings: ServerSettings) -> int:
    """Start, then stay attached (containers): SIGTERM/SIGINT stop the whole tree.

    The handlers are in place before the server starts, so a signal during start-up
    also leaves nothing behind. Returns 0 after a requested stop, 1 when the server
    died on its own (its leftovers are stopped too).
    """
    import psutil

    previous = {sig: signal.signal(sig, _request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        state = start_server(settings, foreground=True)
        while (root := _alive(state)) is not None:
            with contextlib.suppress(psutil.Error):
                root.wait(timeout=1.0)
        log.error("mlflow server exited on its own")
        stop_server(settings.state_path)
        return 1
    except _StopRequested:
        for sig in previous:  # a second Ctrl-C must not interrupt the clean-up
            signal.signal(sig, signal.SIG_IGN)
        stop_server(settings.state_path)
        return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
