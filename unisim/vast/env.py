"""Secrets for rented instances: what is passed, what is stored, and keeping them out of output.

    env = instance_env(os.environ, extra_keys=cfg.vast.env_keys)   # -> create_instance(env=...)
    result = setup_env(backend, ".env")       # store KEY=VALUE lines as Vast account env vars
    print(result.created, result.updated)     # key names only
    redact("... hunter2 ...", env.values())   # -> "... **** ..."

Vast injects account env vars (``vastai create env-var``, the SDK's
``create_env_var``/``update_env_var``) into every instance the account starts, so
``setup-env`` once is an alternative to exporting MLFLOW_* before each launch.
Values are never logged, printed or put into error messages: errors name the file,
the line number and the key.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from unisim.errors import UnisimError
from unisim.vast.backend import VastBackend

# Local env vars a launch passes to the instance when they are set here.
FORWARDED_KEYS = (
    "MLFLOW_TRACKING_URI",
    "MLFLOW_TRACKING_USERNAME",
    "MLFLOW_TRACKING_PASSWORD",
    "MLFLOW_TRACKING_TOKEN",
    "UNISIM_GIT_TOKEN",  # a private repository's token (read by the onstart script's git)
)
# Never shipped to a third-party host: the account key can rent and destroy on your bill.
NEVER_STORED = ("VAST_API_KEY", "CONTAINER_API_KEY", "CONTAINER_ID")
MASK = "****"

_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def parse_env_file(path: str | Path) -> dict[str, str]:
    """``KEY=VALUE`` lines (``export``, quotes, comments and blank lines allowed)."""
    path = Path(path)
    if not path.is_file():
        raise UnisimError(f"{path}: file not found")
    out: dict[str, str] = {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not _KEY_RE.match(key):
            # never quote the line: it may be a secret pasted without its key
            raise UnisimError(f"{path}:{number}: expected KEY=VALUE")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        elif " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        out[key] = value
    return out


def instance_env(environ: Mapping[str, str], extra_keys: Iterable[str] = ()) -> dict[str, str]:
    """The local variables (``FORWARDED_KEYS`` + ``extra_keys``) that are set, for the instance."""
    keys = dict.fromkeys([*FORWARDED_KEYS, *extra_keys])
    for key in keys:
        if key in NEVER_STORED:
            raise UnisimError(f"vast.env_keys: {key} must never be sent to an instance")
    return {k: environ[k] for k in keys if environ.get(k)}


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret value (4+ characters) replaced by ``****``."""
    for value in sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True):
        text = text.replace(value, MASK)
    return text


def local_secrets(environ: Mapping[str, str] | None = None) -> list[str]:
    """Values to redact from anything shown: what a launch would send, the Vast API key
    (``VAST_API_KEY`` or the SDK's key file) and the other never-sent keys."""
    from unisim.vast.backend import key_file_paths

    env = os.environ if environ is None else environ
    values = list(instance_env(env).values())
    values += [env[k] for k in NEVER_STORED if env.get(k)]
    for path in key_file_paths():
        try:
            values.append(path.read_text().strip())
        except OSError:  # no key file there (or unreadable): nothing to mask from it
            continue
    return [v for v in values if v]


@dataclass
class SetupEnvResult:
    """Key names only: what was created, updated, and left out (and why)."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    dry_run: bool = False


def setup_env(
    backend: VastBackend, path: str | Path = ".env", dry_run: bool = False
) -> SetupEnvResult:
    """Store the file's variables as Vast account env vars (existing ones are updated)."""
    values = parse_env_file(path)
    result = SetupEnvResult(dry_run=dry_run)
    existing = backend.env_var_names()
    for key, value in values.items():
        if key in NEVER_STORED:
            result.skipped[key] = "never sent to instances"
            continue
        if not value:
            result.skipped[key] = "empty value"
            continue
        exists = key in existing
        if not dry_run:
            backend.put_env_var(key, value, exists=exists)
        (result.updated if exists else result.created).append(key)
    return result
