"""Serialise registry changes (promotions, rollbacks) across processes and machines.

    with registry_lock(target, "burgers-surrogate") as lease:
        ...           # read the champion, register, move aliases, write configs/
        lease.renew() # before each step: the lease is still ours, for another lease time

The lock is a lease in the Model Registry itself (``tracking/lease.py``): the
registered model ``<name>.promotion-lease``, created by exactly one promoter at a
time, so promotions from any number of checkouts and machines into one server take
turns, and champion, previous-champion and ``unisim.champion_history`` always agree.
A waiter gives up after ``UNISIM_LOCK_TIMEOUT_S`` (300 s; one-line error, exit 2);
a dead promoter's lease expires after ``UNISIM_PROMOTION_LEASE_S`` (120 s, renewed
at every step of a live promotion). Nothing is written to disk.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from unisim.tracking import TrackingTarget, connect
from unisim.tracking.lease import Lease

log = logging.getLogger(__name__)

DEFAULT_MODEL_NAME = "burgers-surrogate"


@contextlib.contextmanager
def registry_lock(
    target: TrackingTarget,
    model_name: str = DEFAULT_MODEL_NAME,
    timeout_s: float | None = None,
) -> Iterator[Lease]:
    """Hold the promotion lease of ``model_name`` in ``target``'s registry.

    The default wait is ``$UNISIM_LOCK_TIMEOUT_S`` or 300 s (``LeaseBusy``, exit 2).
    """
    from unisim.settings import load_settings

    settings = load_settings()
    lease = Lease(connect(target), model_name, ttl_s=settings.promotion_lease_s)
    lease.acquire(settings.lock_timeout_s if timeout_s is None else timeout_s)
    log.debug("holding %s", lease.name)
    try:
        yield lease
    finally:
        lease.release()
