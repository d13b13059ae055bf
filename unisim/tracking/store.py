"""Which tracking store a command talks to: flag > environment > profile > local SQLite.

    target = resolve_tracking()                      # ./mlruns/mlflow.db by default
    target = resolve_tracking("http://127.0.0.1:5000")
    target = resolve_tracking(read_only=True)        # a missing SQLite store is an error
    client = configure(target)                       # MLflow pointed at it (tracking internal)

A profile is ``mlruns-config/<name>.yaml`` (``tracking_uri``, ``artifact_root``);
``UNISIM_PROFILE`` picks one, ``UNISIM_CONFIG_DIR`` moves the folder. Relative
SQLite paths and artifact roots resolve against the current folder, never against
wherever MLflow happens to look. An unknown URI scheme is a one-line error (exit 2).
``configure`` makes a SQLite store ready first (``sqlite.py``: created or migrated by
one process at a time; never by a read-only command) and bounds every HTTP request
(``transport.apply_bound``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from unisim.errors import UnisimError

if TYPE_CHECKING:
    from mlflow import MlflowClient

PROFILE_DIR_ENV = "UNISIM_CONFIG_DIR"
PROFILE_ENV = "UNISIM_PROFILE"
SQLITE_PREFIX = "sqlite:///"
# Schemes MLflow can track to (a database URI may name its driver: postgresql+psycopg).
KNOWN_SCHEMES = ("sqlite", "http", "https", "postgresql", "postgres", "mysql", "mssql")
KNOWN_SCHEMES += ("databricks", "databricks-uc", "uc")


@dataclass(frozen=True)
class TrackingTarget:
    """Where runs go: a tracking URI and, for local stores, an artifact root."""

    uri: str
    artifact_root: str | None = None  # file URI; None for servers (they proxy artifacts)
    source: str = "local"  # which rule chose it: flag | env | profile:<name> | local
    read_only: bool = False  # a read-only command: never create the store

    @property
    def is_local(self) -> bool:
        return self.uri.startswith("sqlite:")

    @property
    def sqlite_path(self) -> Path | None:
        """The database file of a SQLite store (None for servers and other databases)."""
        return Path(self.uri[len(SQLITE_PREFIX) :]) if self.uri.startswith(SQLITE_PREFIX) else None

    @property
    def exists(self) -> bool:
        """False only for a SQLite store whose file is not there yet (nothing to read)."""
        path = self.sqlite_path
        return path is None or path.is_file()

    def ui_base(self, port: int | None = None) -> str:
        """Base URL of the MLflow UI for this store (``links.ui_base``: the remembered port)."""
        from unisim.tracking.links import ui_base

        return ui_base(self, port)


def redact_uri(uri: str) -> str:
    """``scheme://user:secret@host/db`` -> ``scheme://user:***@host/db`` (for logs and state)."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        return uri
    if parts.password is None:
        return uri
    netloc = parts.netloc.rsplit("@", 1)
    user = netloc[0].split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[1]}"))


def _expand(value: str) -> str:
    expanded = os.path.expandvars(value)
    if "$" in expanded:
        raise UnisimError(f"tracking profile: unset environment variable in {value!r}")
    return expanded


def _normalise_uri(uri: str, base: Path) -> str:
    if uri.startswith(SQLITE_PREFIX) and not uri.startswith("sqlite:////"):
        db = (base / uri[len(SQLITE_PREFIX) :]).resolve()
        return f"{SQLITE_PREFIX}{db}"
    if "://" not in uri and not uri.startswith("sqlite:"):
        raise UnisimError(
            f"tracking URI {uri!r}: MLflow's plain file store is not supported; "
            f"use sqlite:///{uri.rstrip('/')}/mlflow.db or an http(s) server"
        )
    scheme = uri.split(":", 1)[0].lower()
    if scheme.split("+", 1)[0] not in KNOWN_SCHEMES:
        hint = " (a plain folder: use sqlite:///PATH/mlflow.db)" if scheme == "file" else ""
        raise UnisimError(
            f"tracking URI {redact_uri(uri)!r}: unknown scheme {scheme!r}{hint}; use "
            "sqlite:///PATH, http(s)://HOST:PORT or a database URI (postgresql://...)"
        )
    return uri


def load_profile(name: str, base: Path | None = None) -> dict[str, Any]:
    """The mapping in ``mlruns-config/<name>.yaml`` (the built-in default for ``local``)."""
    from unisim.settings import load_profile as read

    return read(name, base).model_dump()


def resolve_tracking(
    tracking_uri: str | None = None,
    profile: str | None = None,
    base: Path | None = None,
    *,
    read_only: bool = False,
) -> TrackingTarget:
    """Precedence: ``--tracking-uri`` > ``MLFLOW_TRACKING_URI`` > profile > local SQLite.

    ``read_only``: the command only reads, so a SQLite store that does not exist yet
    is an error (``configure``) rather than a new, empty store.
    """
    base = base or Path.cwd()
    if tracking_uri:
        uri, source, root = tracking_uri, "flag", None
    elif os.environ.get("MLFLOW_TRACKING_URI"):
        uri, source, root = os.environ["MLFLOW_TRACKING_URI"], "env", None
    else:
        from unisim.settings import load_settings

        name = profile or load_settings().profile or "local"
        data = load_profile(name, base)
        uri, source = _expand(str(data["tracking_uri"])), f"profile:{name}"
        root = data.get("artifact_root")
        root = _expand(str(root)) if root else None
    uri = _normalise_uri(uri, base)
    if uri.startswith("sqlite:") and root is None:
        root = str(Path(uri[len(SQLITE_PREFIX) :]).parent / "artifacts")
    if root is not None and "://" not in root:
        root = (base / root).resolve().as_uri()
    return TrackingTarget(uri=uri, artifact_root=root, source=source, read_only=read_only)


def configure(target: TrackingTarget | None = None) -> MlflowClient:
    """Point MLflow (tracking and registry) at ``target`` and return a client.

    Internal to ``unisim.tracking``: other packages use ``connect(target)`` (a Store).
    """
    # MLflow's tqdm bars for artifact downloads would interleave with unisim's one-line
    # output (and errors) on stderr; a user can still turn them on explicitly.
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    import mlflow
    from mlflow import MlflowClient

    from unisim.tracking.sqlite import prepare_sqlite
    from unisim.tracking.transport import apply_bound

    target = target or resolve_tracking()
    if target.sqlite_path is not None:
        prepare_sqlite(target.sqlite_path, target.artifact_root, create=not target.read_only)
    if target.uri.startswith(("http://", "https://")):
        apply_bound()
    mlflow.set_tracking_uri(target.uri)
    mlflow.set_registry_uri(target.uri)
    return MlflowClient(tracking_uri=target.uri, registry_uri=target.uri)
