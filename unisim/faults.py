"""Fault injection for crash tests: ``UNISIM_FAULT=op:point`` SIGKILLs the process there.

    fault("archive", "after-copy")     # no-op unless UNISIM_FAULT=archive:after-copy

Points: archive/restore (``experiments/transfer.py``: after-journal, after-copy, ...),
``log-model:pending`` (``tracking/runs.py``: a logged model created, not yet finished).
The variable is read raw at each point (no settings parse on hot paths).
"""

from __future__ import annotations

import logging
import os
import signal

FAULT_ENV = "UNISIM_FAULT"
log = logging.getLogger(__name__)


def fault(op: str, point: str) -> None:
    """SIGKILL this process when ``$UNISIM_FAULT`` is ``op:point``."""
    if os.environ.get(FAULT_ENV) == f"{op}:{point}":
        log.warning("fault injection: killing the process at %s:%s", op, point)
        os.kill(os.getpid(), signal.SIGKILL)
