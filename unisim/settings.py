"""unisim's own settings: the ``UNISIM_*`` environment variables and the tracking profiles.

    s = load_settings()                 # reads UNISIM_* now (tests monkeypatch the env)
    s.active_days, s.stale_days         # status thresholds
    s.profile_dir(base)                 # mlruns-config/ (or UNISIM_CONFIG_DIR)
    profile = load_profile("team")      # TrackingProfile(tracking_uri=..., artifact_root=...)

| variable | meaning | default |
|---|---|---|
| UNISIM_CONFIG_DIR | folder of tracking profiles and server.yaml | ./mlruns-config |
| UNISIM_PROFILE | tracking profile when no URI is given | local |
| UNISIM_JOURNAL_DIR | where unsent metric points wait for `unisim sync` | ./mlruns/journal |
| UNISIM_ACTIVE_DAYS, UNISIM_STALE_DAYS | experiment status thresholds (days) | 7, 30 |
| UNISIM_LOCK_TIMEOUT_S | how long a promotion waits for the registry lease | 300 |
| UNISIM_TRACKING_TIMEOUT_S | longest wait on the tracking server per request | 20 |
| UNISIM_PROMOTION_LEASE_S | a promotion lease's life unless renewed | 120 |
| UNISIM_DATA_WORKERS | solver threads for data generation | CPUs available |
| UNISIM_SWEEP_STORAGE | Optuna storage of sweeps (a database URL) | SQLite beside mlruns |
| UNISIM_SWEEP_HEARTBEAT_S | sweep trial heartbeat; silent 3x this long = dead worker | 30 |
| UNISIM_FAULT | crash tests only: SIGKILL at ``op:point`` | unset |

``UNISIM_LOCK_TIMEOUT_S`` also bounds the wait for another process creating or
migrating a SQLite store. After ``UNISIM_TRACKING_TIMEOUT_S`` without an answer a
command journals what it could not send, says so in one line, and goes on or ends
(exit 4). A promoter that dies holds its lease at most ``UNISIM_PROMOTION_LEASE_S``.

Other ``UNISIM_*`` names (``UNISIM_SERVER_*`` in server.yaml, the onstart script's) are
plain variables those files expand, not settings. A bad value is one line, exit 2.
A profile file is a ``TrackingProfile``: an unknown key is refused.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from unisim.errors import ConfigError, UnisimError

ENV_PREFIX = "UNISIM_"
DEFAULT_PROFILE = {
    "tracking_uri": "sqlite:///mlruns/mlflow.db",
    "artifact_root": "mlruns/artifacts",
}


class Settings(BaseSettings):
    """The ``UNISIM_*`` settings (environment only; no file)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    config_dir: Path | None = None
    profile: str | None = None
    journal_dir: Path | None = None
    active_days: float = Field(7.0, gt=0)
    stale_days: float = Field(30.0, gt=0)
    lock_timeout_s: float = Field(300.0, ge=0)
    tracking_timeout_s: float = Field(20.0, gt=0, le=600)
    promotion_lease_s: float = Field(120.0, ge=5)
    data_workers: int | None = Field(None, ge=1)
    fault: str | None = None
    sweep_storage: str | None = None
    sweep_heartbeat_s: float = Field(30.0, ge=1)

    @model_validator(mode="after")
    def _thresholds(self) -> Settings:
        if self.active_days > self.stale_days:
            raise ValueError(
                f"status thresholds: need active ({self.active_days:g}) <= "
                f"stale ({self.stale_days:g})"
            )
        return self

    def profile_dir(self, base: Path | None = None) -> Path:
        return self.config_dir or (base or Path.cwd()) / "mlruns-config"


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """The settings from the environment as it is now (or from ``environ``, which wins);
    a bad value is a one-line UnisimError naming the variable."""
    given = {
        k[len(ENV_PREFIX) :].lower(): v
        for k, v in (environ or {}).items()
        if k.startswith(ENV_PREFIX) and k[len(ENV_PREFIX) :].lower() in Settings.model_fields
    }
    try:
        return Settings(**given)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        name = f"{ENV_PREFIX}{field.upper()}" if field else "UNISIM_* settings"
        got = {**os.environ, **(environ or {})}.get(name) if field else None
        msg = err["msg"].removeprefix("Value error, ")
        raise UnisimError(
            f"{name}: {msg}" + (f" (got {got!r})" if got is not None else "")
        ) from None


class TrackingProfile(BaseModel):
    """``mlruns-config/<name>.yaml``: where a team's runs go."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tracking_uri: str
    artifact_root: str | None = None  # local stores only; servers proxy artifacts


def load_profile(name: str, base: Path | None = None) -> TrackingProfile:
    """The profile ``name`` (the built-in default for ``local`` when there is no file)."""
    path = load_settings().profile_dir(base) / f"{name}.yaml"
    if not path.is_file():
        if name == "local":
            return TrackingProfile(**DEFAULT_PROFILE)
        raise UnisimError(f"{path}: tracking profile {name!r} not found")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc.__class__.__name__}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping")
    try:
        return TrackingProfile(**data)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"])
        what = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        if err["type"] == "missing":
            what = "required key is missing"
        raise ConfigError(f"{path}: {key}: {what}") from None
