"""Errors that the CLI turns into one line and an exit code (no traceback).

Library code raises these for anything the user can fix: bad input is exit 2,
a check that ran and said no (a failed gate, a refused promotion) is exit 1.
"""

from __future__ import annotations


class UnisimError(Exception):
    """A user-facing error: the message is one line, the exit code is 2."""

    exit_code = 2


class ConfigError(UnisimError):
    """A config file or override that cannot be loaded: names file, key and value."""


class CheckFailed(UnisimError):
    """A check ran and failed (a gate, a promotion validation): exit code 1."""

    exit_code = 1
