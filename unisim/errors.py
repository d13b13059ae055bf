"""Errors that the CLI turns into one line and an exit code (no traceback).

Library code raises these for anything the user can fix: bad input is exit 2,
a check that ran and said no (a failed gate, a refused promotion) is exit 1, a
tracking server that did not answer within ``UNISIM_TRACKING_TIMEOUT_S`` is exit 4.
``Terminated`` is SIGTERM turned into an interrupt (exit 143), handled like Ctrl-C.
"""

from __future__ import annotations

EXIT_TERMINATED = 143  # 128 + SIGTERM, what shells report for a process killed by it


class UnisimError(Exception):
    """A user-facing error: the message is one line, the exit code is 2."""

    exit_code = 2


class ConfigError(UnisimError):
    """A config file or override that cannot be loaded: names file, key and value."""


class CheckFailed(UnisimError):
    """A check ran and failed (a gate, a promotion validation): exit code 1."""

    exit_code = 1


class TrackingUnavailable(UnisimError):
    """The tracking server did not answer in time (down, unreachable, timed out): exit 4.

    ``journaled``: (run id, MLflow status) of the runs whose end only the local journal
    could record; the message then says how they reach the server.
    """

    exit_code = 4

    def __init__(self, message: str, journaled: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.journaled = list(journaled or [])

    def __str__(self) -> str:
        if not self.journaled:
            return self.message
        runs = ", ".join(f"{run_id} ({status})" for run_id, status in self.journaled)
        return (
            f"{self.message}; ended in the local journal: run {runs}: `unisim sync` records "
            "it once the server answers; then run the command again (`unisim train CONFIG "
            "--resume` continues a training from its checkpoint)"
        )


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``, a CI timeout, a container stop), raised in the main thread.

    A KeyboardInterrupt, so everything that ends runs KILLED on Ctrl-C does so here too.
    """


def interrupt_reason(exc: KeyboardInterrupt) -> str:
    """The ``unisim.failure_reason`` of a run ended by Ctrl-C or SIGTERM."""
    return "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted (Ctrl-C)"
