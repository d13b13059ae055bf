"""Settings of the team tracking server, read from ``mlruns-config/server.yaml``.

    settings = load_server_settings("team", port=5001)   # profile + command-line overrides
    settings.backend_store_uri, settings.url             # 'postgresql+psycopg://...', 'http://...'

The file holds named profiles; values may use ``${VAR}`` and ``${VAR:-default}``
so secrets (the database password, the admin password) stay in the environment.
An unknown key, a wrong type or an unset variable fails with one line naming the
file, the key and the value. This module imports neither mlflow nor torch.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from unisim.errors import ConfigError
from unisim.tracking.store import redact_uri

__all__ = ["ServerSettings", "expand_env", "load_server_settings", "redact_uri"]

SETTINGS_FILE = "server.yaml"
CONFIG_DIR_ENV = "UNISIM_CONFIG_DIR"  # the same folder override as tracking profiles
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class ServerSettings(BaseModel):
    """One server profile, fully resolved (env expanded, relative paths made absolute)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    profile: str = "team"
    backend_store_uri: str  # SQLAlchemy URI: postgresql+psycopg://..., sqlite:////abs/path.db
    artifacts_destination: str  # where proxied artifacts land (path or URI)
    host: str = "127.0.0.1"  # bind address; 0.0.0.0 inside a container
    port: int = Field(5000, ge=1, le=65535)
    workers: int = Field(1, ge=1, le=64)  # uvicorn workers; see server.yaml for the measurement
    auth: bool = False  # mlflow basic-auth app (admin password from MLFLOW_AUTH_ADMIN_PASSWORD)
    auth_database_uri: str | None = None  # users/permissions; default: sqlite in state_dir
    allowed_hosts: str | None = None  # --allowed-hosts (Host header check); None: MLflow default
    job_execution: bool = False  # MLflow's GenAI job runner (7 huey consumers); unisim needs none
    state_dir: str = "mlruns"  # server.json (pid, pgid, uri), server.log, auth ini
    health_timeout_s: float = Field(180.0, gt=0)  # cold start on a busy 2-core box: ~60 s

    @property
    def url(self) -> str:
        """The URI clients use (MLFLOW_TRACKING_URI)."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        return f"http://{host}:{self.port}"

    @property
    def state_path(self) -> Path:
        return Path(self.state_dir) / "server.json"

    @property
    def log_path(self) -> Path:
        return Path(self.state_dir) / "server.log"


def expand_env(value: str, where: str) -> str:
    """Expand ``${VAR}`` / ``${VAR:-default}``; an unset variable without default is an error."""

    def repl(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        got = os.environ.get(name)
        if got:
            return got
        if default is not None:
            return default
        raise ConfigError(f"{where}: environment variable {name} is not set")

    return _VAR.sub(repl, value)


def _absolute(value: str, base: Path) -> str:
    """Relative sqlite paths and local folders resolve against ``base`` (where unisim runs)."""
    if value.startswith("sqlite:///") and not value.startswith("sqlite:////"):
        return f"sqlite:///{(base / value[len('sqlite:///') :]).resolve()}"
    if "://" not in value and not value.startswith("sqlite:"):
        return str((base / value).resolve())
    return value


def settings_path(base: Path | None = None) -> Path:
    """``server.yaml`` in the profile folder (``UNISIM_CONFIG_DIR`` or ./mlruns-config)."""
    from unisim.settings import load_settings

    return load_settings().profile_dir(base) / SETTINGS_FILE


def load_server_settings(
    profile: str | None = None,
    path: str | Path | None = None,
    base: Path | None = None,
    **overrides: Any,
) -> ServerSettings:
    """Read one profile of ``server.yaml``; ``overrides`` (port=, workers=, auth=) win over it.

    ``None`` overrides are ignored, so CLI options can be passed straight through.
    """
    base = base or Path.cwd()
    path = Path(path) if path else settings_path(base)
    if not path.is_file():
        raise ConfigError(f"{path}: server settings not found (copy mlruns-config/server.yaml)")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc.__class__.__name__}") from None
    profiles = data.get("profiles") if isinstance(data, dict) else None
    if not isinstance(profiles, dict) or not profiles:
        raise ConfigError(f"{path}: profiles: required mapping of profile name -> settings")
    name = profile or str(data.get("default_profile") or next(iter(profiles)))
    if name not in profiles:
        raise ConfigError(f"{path}: profile {name!r} not found (have: {', '.join(profiles)})")
    raw = profiles[name] or {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: profiles.{name}: expected a mapping, got {raw!r}")
    values: dict[str, Any] = {"profile": name}
    for key, value in raw.items():
        where = f"{path}: profiles.{name}.{key}"
        values[key] = expand_env(value, where) if isinstance(value, str) else value
        if values[key] == "":
            values[key] = None  # ${VAR:-} means "not set"
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        settings = ServerSettings(**values)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"]) or "?"
        got = values.get(str(err["loc"][0]), "missing") if err["loc"] else "?"
        if key in ("backend_store_uri", "artifacts_destination"):
            got = redact_uri(str(got))
        raise ConfigError(f"{path}: profiles.{name}.{key}: {err['msg']} (got {got!r})") from None
    updates = {
        "backend_store_uri": _absolute(settings.backend_store_uri, base),
        "artifacts_destination": _absolute(settings.artifacts_destination, base),
        "state_dir": str((base / settings.state_dir).resolve()),
    }
    if settings.auth_database_uri:
        updates["auth_database_uri"] = _absolute(settings.auth_database_uri, base)
    return settings.model_copy(update=updates)
