"""How unisim talks to a tracking server that may be slow or down.

    apply_bound()         # every MLflow HTTP request of this process: <= UNISIM_TRACKING_TIMEOUT_S
    with fail_fast_http(timeout_s=5, max_retries=0):   # shorter still inside the block
        send_points(client, run_id, points)
    is_outage(exc)        # True: keep the points and retry later; False: bad input, raise
    unreachable(exc)      # True: the server did not answer (down, refused, timed out, 5xx)
    user_error(exc, uri)  # a one-line UnisimError for server, URI and credential errors
    describe_error(exc)   # one line for unisim.failure_reason and logs

MLflow's defaults (120 s timeout, 7 retries with backoff) make one request wait
minutes on a dead server. ``apply_bound`` sets MLflow's request variables so one
request (all its attempts) waits at most the bound; ``note_down``/``recently_down``
let a run that already saw the server fail skip further waits while it ends.
The leaf of the tracking package: the journal and the metric logger build on it.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, NamedTuple

from unisim.errors import TrackingUnavailable, UnisimError

if TYPE_CHECKING:
    from mlflow import MlflowClient

CHUNK = 1000  # MLflow's log_batch limit on metrics
MAX_BATCH_PARAMS = 100  # ... and on params and tags


class Point(NamedTuple):
    """One metric point as MLflow stores it: (key, value, timestamp in ms, step)."""

    key: str
    value: float
    timestamp: int
    step: int


def describe_error(exc: BaseException) -> str:
    """One line, at most 500 characters, for `unisim.failure_reason` and logs."""
    text = f"{type(exc).__name__}: {exc}".splitlines()[0] if str(exc) else type(exc).__name__
    return text[:500]


def bound_s() -> float:
    """``UNISIM_TRACKING_TIMEOUT_S``: the longest one request to the server may wait."""
    from unisim.settings import load_settings

    return load_settings().tracking_timeout_s


def _http_env(timeout_s: float, max_retries: int) -> dict[str, str]:
    """MLflow's request variables for at most ``timeout_s`` per attempt and no backoff."""
    return {
        "MLFLOW_HTTP_REQUEST_TIMEOUT": str(max(1, math.floor(timeout_s))),
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": str(max_retries),
        "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "0",
        "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0",
    }


def apply_bound(limit_s: float | None = None) -> float:
    """Bound every MLflow HTTP request of this process by ``limit_s`` (default: the setting).

    One retry (a blip), each attempt at most half the bound: a server that never
    answers costs the bound, a refused connection almost nothing. Returns the bound.
    """
    limit = bound_s() if limit_s is None else limit_s
    os.environ.update(_http_env(limit / 2, 1))
    return limit


# The servers this process saw fail (uri -> time.monotonic()): a run that could not reach
# its server while ending does not wait on it again for every remaining write.
_DOWN: dict[str, float] = {}


def note_down(uri: str | None) -> None:
    if uri:
        _DOWN[uri] = time.monotonic()


def note_up(uri: str | None) -> None:
    _DOWN.pop(uri or "", None)


def recently_down(uri: str | None, within_s: float = 60.0) -> bool:
    seen = _DOWN.get(uri or "")
    return seen is not None and time.monotonic() - seen < within_s


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        yield cur
        cur = cur.__cause__ or cur.__context__


def unreachable(exc: BaseException) -> bool:
    """True when the server did not answer: refused, timed out, DNS, or a 502/503/504."""
    for err in _chain(exc):
        name = type(err).__name__
        if name in ("ConnectionError", "Timeout", "ConnectTimeout", "ReadTimeout"):
            return True
        if name in ("MaxRetryError", "NewConnectionError", "ProtocolError"):
            return True
        if isinstance(err, (ConnectionRefusedError, TimeoutError)):
            return True
        text = str(err)
        if "API request to" in text and (
            "failed with exception" in text
            or any(f"error code {c}" in text for c in (502, 503, 504))
        ):
            return True
    return False


def user_error(exc: BaseException, uri: str | None = None) -> UnisimError | None:
    """A one-line error for a tracking server, URI or credential problem (None: not one).

    Unreachable -> ``TrackingUnavailable`` (exit 4); refused credentials, an unknown
    URI scheme or an unusable database -> ``UnisimError`` (exit 2).
    """
    if uri is None and "mlflow" in sys.modules:  # the CLI's last resort: where MLflow pointed
        import mlflow

        uri = mlflow.get_tracking_uri()
    where = f"tracking store {redact(uri)}" if uri else "tracking store"
    if unreachable(exc):
        return TrackingUnavailable(
            f"{where} did not answer within {bound_s():g} s "
            f"(UNISIM_TRACKING_TIMEOUT_S): {_reason(exc)}"
        )
    code = str(getattr(exc, "error_code", "") or "")
    text = str(exc)
    if code in ("UNAUTHENTICATED", "PERMISSION_DENIED") or "error code 401" in text:
        what = "refused the credentials" if "error code 403" not in text else "denied access"
        return UnisimError(
            f"{where} {what} ({code or 'HTTP 401'}): check MLFLOW_TRACKING_USERNAME and "
            "MLFLOW_TRACKING_PASSWORD (or MLFLOW_TRACKING_TOKEN)"
        )
    if type(exc).__name__ in ("OperationalError", "ArgumentError", "NoSuchModuleError"):
        return UnisimError(f"{where}: {_reason(exc)}")  # SQLAlchemy: bad database URI or file
    if "registered" in text and "store for scheme" in text:
        return UnisimError(f"{where}: {_reason(exc)}")
    return None


def _reason(exc: BaseException) -> str:
    """The innermost useful line: 'Connection refused', 'Read timed out', a 5xx ..."""
    text = " ".join(str(exc).split())
    markers = ("Connection refused", "Read timed out", "timed out", "Name or service not known")
    for marker in markers:
        if marker in text:
            return marker
    for code in (502, 503, 504):
        if f"error code {code}" in text:
            return f"HTTP {code}"
    return text[:200]


def redact(uri: str | None) -> str:
    from unisim.tracking.store import redact_uri

    return redact_uri(uri) if uri else ""


def is_outage(exc: BaseException) -> bool:
    """True for errors worth retrying later (unreachable, 5xx, auth); False for bad input."""
    from mlflow.exceptions import MlflowException

    if isinstance(exc, MlflowException):
        return exc.error_code != "INVALID_PARAMETER_VALUE"
    return isinstance(exc, Exception)


@contextlib.contextmanager
def fail_fast_http(timeout_s: float = 10, max_retries: int = 1) -> Iterator[None]:
    """Short MLflow HTTP timeout and few retries inside the block (never above the bound).

    MLflow reads these variables at each request, so this works per call; it changes the
    process environment, so other threads' requests in the block get the same limits.
    """
    new = _http_env(min(timeout_s, bound_s() / (max_retries + 1)), max_retries)
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
