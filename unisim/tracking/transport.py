"""How unisim talks to a tracking server that may be slow or down.

    with fail_fast_http(timeout_s=5, max_retries=0):   # MLflow's defaults: 120 s, 7 retries
        send_points(client, run_id, points)
    is_outage(exc)        # True: keep the points and retry later; False: bad input, raise
    describe_error(exc)   # one line for unisim.failure_reason and logs

The leaf of the tracking package: the journal and the metric logger build on it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, NamedTuple

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


def is_outage(exc: BaseException) -> bool:
    """True for errors worth retrying later (unreachable, 5xx, auth); False for bad input."""
    from mlflow.exceptions import MlflowException

    if isinstance(exc, MlflowException):
        return exc.error_code != "INVALID_PARAMETER_VALUE"
    return isinstance(exc, Exception)


@contextlib.contextmanager
def fail_fast_http(timeout_s: int = 10, max_retries: int = 1) -> Iterator[None]:
    """Short MLflow HTTP timeout and few retries inside the block (defaults: 120 s, 7 retries).

    MLflow reads these variables at each request, so this works per call; it changes the
    process environment, so other threads' requests in the block get the same limits.
    """
    new = {
        "MLFLOW_HTTP_REQUEST_TIMEOUT": str(timeout_s),
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": str(max_retries),
        "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "0",
        "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0",
    }
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
