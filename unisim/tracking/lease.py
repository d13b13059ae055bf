"""A lease in the Model Registry: one holder at a time, across every machine of a team.

    lease = Lease(store, "burgers-surrogate", ttl_s=120)
    lease.acquire(timeout_s=300)     # waits for the holder; breaks a lease past its expiry
    lease.renew()                    # before each step: still ours? then extend it
    lease.release()

The lease is a registered model ``<name>.promotion-lease`` whose tags say who holds it
and until when (``unisim.lease_holder``, ``unisim.lease_expires``, epoch seconds).
Creating a registered model is the compare-and-set: MLflow's model name is unique in
its database, so of any number of concurrent creators exactly one succeeds, whatever
machine or checkout it runs from; the others wait. The tags are written by the same
create and read back after it. A holder that dies leaves the lease until it expires;
then the next waiter deletes it (only if the expired holder is still the one named)
and competes again. A holder whose lease was broken or expired learns it at its next
``renew`` (``LeaseLost``) and must stop before writing more.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import time
import uuid
from typing import TYPE_CHECKING

from unisim.errors import UnisimError
from unisim.tracking.schema import LEASE_SUFFIX, TAG_LEASE_EXPIRES, TAG_LEASE_HOLDER

if TYPE_CHECKING:
    from unisim.tracking.client import Store

log = logging.getLogger(__name__)


class LeaseBusy(UnisimError):
    """Another holder kept the lease for longer than we were willing to wait (exit 2)."""


class LeaseLost(UnisimError):
    """Our lease expired or was broken by another waiter: stop writing."""


def lease_name(model_name: str) -> str:
    return f"{model_name}{LEASE_SUFFIX}"


def is_lease(model_name: str) -> bool:
    """True for the registered models that are leases (listings leave them out)."""
    return model_name.endswith(LEASE_SUFFIX)


class Lease:
    """The promotion lease of one registered model (see the module docstring)."""

    POLL_S = 0.25  # between attempts while another process holds it (plus jitter)

    def __init__(self, store: Store, model_name: str, ttl_s: float) -> None:
        self.store = store
        self.name = lease_name(model_name)
        self.ttl_s = ttl_s
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.held = False

    # ------------------------------------------------------------ registry access
    def _read(self) -> tuple[str, float] | None:
        """(holder, expiry) as stored now, or None when nobody holds it."""
        model = self.store.registered_model(self.name)
        if model is None:
            return None
        tags = model.tags or {}
        try:
            expires = float(tags.get(TAG_LEASE_EXPIRES, "0"))
        except ValueError:
            expires = 0.0
        return tags.get(TAG_LEASE_HOLDER, ""), expires

    def _create(self) -> bool:
        from mlflow.exceptions import MlflowException

        tags = {TAG_LEASE_HOLDER: self.holder, TAG_LEASE_EXPIRES: f"{time.time() + self.ttl_s:.3f}"}
        try:
            self.store.client.create_registered_model(
                self.name,
                tags=tags,
                description="unisim promotion lease: registry changes of this model are "
                "serialised through it; it is deleted when the promotion ends",
            )
        except MlflowException as exc:
            # ALREADY_EXISTS: someone holds it. DOES_NOT_EXIST: MLflow's create found the
            # name taken, then re-read it after its holder had released it. Both: try again.
            if exc.error_code not in ("RESOURCE_ALREADY_EXISTS", "RESOURCE_DOES_NOT_EXIST"):
                raise
            return False
        return True

    def _delete_if(self, holder: str) -> None:
        """Delete the lease if ``holder`` still holds it (a lease someone else took stays)."""
        from mlflow.exceptions import MlflowException

        current = self._read()
        if current is None or current[0] != holder:
            return
        try:
            self.store.client.delete_registered_model(self.name)
        except MlflowException as exc:
            if exc.error_code not in ("RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"):
                raise

    # ------------------------------------------------------------ the protocol
    def acquire(self, timeout_s: float) -> None:
        """Hold the lease; ``LeaseBusy`` when another holder keeps it past ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while True:
            if self._create():
                current = self._read()
                if current is not None and current[0] == self.holder:  # read back after writing
                    self.held = True
                    return
                continue
            current = self._read()
            if current is None:
                continue  # released meanwhile: compete again at once
            holder, expires = current
            if expires < time.time():
                log.warning("%s: breaking the lease of %s (expired)", self.name, holder)
                self._delete_if(holder)
                continue
            if time.monotonic() >= deadline:
                raise LeaseBusy(
                    f"{self.name}: another promotion ({holder}) held the registry lock for "
                    f"over {timeout_s:g} s; it expires in {expires - time.time():.0f} s unless "
                    "renewed (UNISIM_LOCK_TIMEOUT_S, UNISIM_PROMOTION_LEASE_S)"
                )
            time.sleep(self.POLL_S + random.uniform(0, self.POLL_S))

    def renew(self) -> None:
        """Still ours? Extend it by the lease time; ``LeaseLost`` when it is not ours."""
        current = self._read()
        if current is None or current[0] != self.holder or current[1] < time.time():
            self.held = False
            raise LeaseLost(
                f"{self.name}: the promotion lease expired or was taken over (by "
                f"{current[0] if current else 'nobody'}); nothing more is written"
            )
        expires = f"{time.time() + self.ttl_s:.3f}"
        self.store.client.set_registered_model_tag(self.name, TAG_LEASE_EXPIRES, expires)

    def release(self) -> None:
        if self.held:
            self.held = False
            self._delete_if(self.holder)
