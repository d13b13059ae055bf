"""The one door to MLflow for runs: store resolution, run context, tags, batched metrics.

    target = resolve_tracking()                   # --tracking-uri > env > profile > local
    with start_run(kind="train", experiment="burgers", cfg=cfg, target=target) as run:
        run.metrics.log({"train/loss": 0.1}, step=1)  # buffered, sent with log_batch
        run.metrics.flush()                           # at epoch ends; also at exit

A run ends FINISHED, FAILED (tag ``unisim.failure_reason``) or KILLED
(KeyboardInterrupt); buffered metric points are sent before it ends, whatever
happened (or, when the server is unreachable, kept in the run's local journal for
``unisim sync``). Models, data and the training loop never import this module's
dependencies: they report through plain callbacks and dicts.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import platform
import subprocess
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from unisim.errors import UnisimError

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from unisim.config import Config

log = logging.getLogger(__name__)

# ---------------------------------------------------------------- tag schema (shared contract)
TAG_KIND = "unisim.kind"  # pipeline | train | evaluate | data
TAG_STAGE = "unisim.stage"  # fast | full
TAG_STATUS = "unisim.status"  # running | success | failed | promoted | archived
TAG_FINAL_STATUS = "unisim.final_status"  # status before archiving
TAG_GATES_PASSED = "unisim.gates_passed"  # true | false
TAG_EXPERIMENT_DIR = "unisim.experiment_dir"
TAG_CONFIG_HASH = "unisim.config_hash"
TAG_DATA_HASH = "unisim.data_hash"
TAG_GIT_COMMIT = "unisim.git_commit"
TAG_GIT_DIRTY = "unisim.git_dirty"
TAG_PARENT_RUN = "unisim.parent_run"
TAG_FAILURE_REASON = "unisim.failure_reason"
TAG_MODEL_VERSION = "unisim.model_version"
TAG_EVALUATED_RUN = "unisim.evaluated_run"
TAG_MODEL_NAME = "unisim.model_name"
TAG_TRAIN_RUN = "unisim.train_run"  # on a pipeline run: its train child (maybe reused)
TAG_EVAL_KEY = "unisim.eval_key"  # on an evaluate run: model, data, stage and settings
MLFLOW_PARENT_TAG = "mlflow.parentRunId"

STATUS_RUNNING, STATUS_SUCCESS, STATUS_FAILED = "running", "success", "failed"
STATUS_PROMOTED, STATUS_ARCHIVED = "promoted", "archived"

PROFILE_DIR_ENV = "UNISIM_CONFIG_DIR"
PROFILE_ENV = "UNISIM_PROFILE"
DEFAULT_PROFILE = {
    "tracking_uri": "sqlite:///mlruns/mlflow.db",
    "artifact_root": "mlruns/artifacts",
}

MAX_BATCH_METRICS = 1000  # MLflow's log_batch limit
MAX_BATCH_PARAMS = 100


# ---------------------------------------------------------------- store resolution


@dataclass(frozen=True)
class TrackingTarget:
    """Where runs go: a tracking URI and, for local stores, an artifact root."""

    uri: str
    artifact_root: str | None = None  # file URI; None for servers (they proxy artifacts)
    source: str = "local"  # which rule chose it: flag | env | profile:<name> | local

    @property
    def is_local(self) -> bool:
        return self.uri.startswith("sqlite:")

    def ui_base(self, port: int = 5000) -> str:
        """Base URL of the MLflow UI for this store."""
        return self.uri.rstrip("/") if self.uri.startswith("http") else f"http://127.0.0.1:{port}"


def _expand(value: str) -> str:
    expanded = os.path.expandvars(value)
    if "$" in expanded:
        raise UnisimError(f"tracking profile: unset environment variable in {value!r}")
    return expanded


def _normalise_uri(uri: str, base: Path) -> str:
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        db = (base / uri[len("sqlite:///") :]).resolve()
        return f"sqlite:///{db}"
    if "://" not in uri and not uri.startswith("sqlite:"):
        raise UnisimError(
            f"tracking URI {uri!r}: MLflow's plain file store is not supported; "
            f"use sqlite:///{uri.rstrip('/')}/mlflow.db or an http(s) server"
        )
    return uri


def load_profile(name: str, base: Path | None = None) -> dict[str, Any]:
    base = base or Path.cwd()
    folder = Path(os.environ.get(PROFILE_DIR_ENV, base / "mlruns-config"))
    path = folder / f"{name}.yaml"
    if not path.is_file():
        if name == "local":
            return dict(DEFAULT_PROFILE)
        raise UnisimError(f"{path}: tracking profile {name!r} not found")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise UnisimError(f"{path}: invalid YAML: {exc.__class__.__name__}") from None
    if not isinstance(data, dict) or "tracking_uri" not in data:
        raise UnisimError(f"{path}: tracking_uri: required key is missing")
    return data


def resolve_tracking(
    tracking_uri: str | None = None, profile: str | None = None, base: Path | None = None
) -> TrackingTarget:
    """Precedence: ``--tracking-uri`` > ``MLFLOW_TRACKING_URI`` > profile > local SQLite.

    Relative SQLite paths and artifact roots resolve against ``base`` (the
    current folder), never against wherever MLflow happens to look.
    """
    base = base or Path.cwd()
    if tracking_uri:
        uri, source, root = tracking_uri, "flag", None
    elif os.environ.get("MLFLOW_TRACKING_URI"):
        uri, source, root = os.environ["MLFLOW_TRACKING_URI"], "env", None
    else:
        name = profile or os.environ.get(PROFILE_ENV) or "local"
        data = load_profile(name, base)
        uri, source = _expand(str(data["tracking_uri"])), f"profile:{name}"
        root = data.get("artifact_root")
        root = _expand(str(root)) if root else None
    uri = _normalise_uri(uri, base)
    if uri.startswith("sqlite:") and root is None:
        root = str(Path(uri[len("sqlite:///") :]).parent / "artifacts")
    if root is not None and "://" not in root:
        root = (base / root).resolve().as_uri()
    return TrackingTarget(uri=uri, artifact_root=root, source=source)


def configure(target: TrackingTarget | None = None) -> MlflowClient:
    """Point MLflow (tracking and registry) at ``target`` and return a client."""
    import mlflow
    from mlflow import MlflowClient

    target = target or resolve_tracking()
    if target.uri.startswith("sqlite:///"):
        Path(target.uri[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(target.uri)
    mlflow.set_registry_uri(target.uri)
    return MlflowClient(tracking_uri=target.uri, registry_uri=target.uri)


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def get_or_create_experiment(
    client: MlflowClient,
    name: str,
    target: TrackingTarget,
    tags: dict[str, str] | None = None,
) -> str:
    """Experiment id by name, created (with our artifact root) if missing; race-safe."""
    from mlflow.exceptions import MlflowException

    exp = client.get_experiment_by_name(name)
    if exp is None:
        location = f"{target.artifact_root}/{_slug(name)}" if target.artifact_root else None
        try:
            return client.create_experiment(name, artifact_location=location, tags=tags)
        except MlflowException:
            exp = client.get_experiment_by_name(name)  # another process created it
            if exp is None:
                raise
    if exp.lifecycle_stage == "deleted":
        raise UnisimError(f"MLflow experiment {name!r} is deleted; restore it or pick a new name")
    for key, value in (tags or {}).items():
        if exp.tags.get(key) != value:
            client.set_experiment_tag(exp.experiment_id, key, value)
    return exp.experiment_id


# ---------------------------------------------------------------- reproducibility tags


def git_info(path: Path | None = None) -> dict[str, str]:
    """Commit and dirty flag of the repository holding ``path`` (empty outside git)."""
    cwd = str(path or Path.cwd())
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10
        )
        if commit.returncode:
            return {}
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return {}
    return {
        TAG_GIT_COMMIT: commit.stdout.strip(),
        TAG_GIT_DIRTY: "true" if dirty.stdout.strip() else "false",
    }


def version_tags() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    tags = {"unisim.python_version": platform.python_version()}
    for pkg in ("unisim", "torch", "mlflow", "numpy"):
        with contextlib.suppress(PackageNotFoundError):
            tags[f"unisim.{pkg}_version"] = version(pkg)
    return tags


def experiment_dir_of(config_path: str | Path | None) -> str | None:
    """Repo-relative ``experiments/NAME`` for a config inside an experiment folder."""
    if config_path is None:
        return None
    path = Path(config_path).resolve()
    if path.parent.parent.name in ("experiments", "experiments-archive"):
        return f"{path.parent.parent.name}/{path.parent.name}"
    return None


# ---------------------------------------------------------------- metrics


class MetricLogger:
    """Buffers metric points and sends them with ``log_batch``; rides out server outages.

    ``log`` never talks to the server. ``flush`` sends the run's journal (older
    points, if any) then the buffer, in chunks of 1,000, with a 5 s HTTP timeout
    and no HTTP retry. When the server cannot be reached it returns False at once,
    moves the buffered points into the run's local journal (unisim/journal.py) and
    tries again on a later flush after a backoff (1, 2, 4 ... 15 s), so training
    never waits on the server and memory stays under ``max_buffer`` points (``log``
    spills beyond that too). ``close`` (run end) makes a last attempt; what is
    still unsent stays in the journal for ``unisim sync``. Invalid points
    (MLflow's INVALID_PARAMETER_VALUE) raise: retrying cannot fix them.
    """

    # MLflow's HTTP defaults (120 s timeout, 7 retries with exponential backoff) would stall
    # a flush for minutes while the server is down; these apply inside the send path only.
    HTTP_TIMEOUT_S = 5
    FLUSH_RETRIES = 0  # the logger's own backoff is the retry
    END_RETRIES = 2  # run end (close, tags, end_run): a blip should not leave it to sync
    BACKOFF_S = 1.0  # then 2, 4, 8, 15, 15 ... s between attempts while unreachable
    MAX_BACKOFF_S = 15.0

    def __init__(
        self,
        client: MlflowClient,
        run_id: str,
        *,
        max_buffer: int = 10_000,
        journal_dir: str | Path | None = None,
    ) -> None:
        from unisim.journal import Journal

        self.client = client
        self.run_id = run_id
        self.max_buffer = max_buffer
        uri = getattr(client, "tracking_uri", None)
        self.journal = Journal(run_id, tracking_uri=uri, directory=journal_dir)
        self._buffer: list[tuple[str, float, int, int]] = []  # (key, value, timestamp ms, step)
        self.sent = 0
        self._failures = 0
        self._retry_at = 0.0  # time.monotonic() before which flush does not try the server

    def log(
        self, metrics: dict[str, float], step: int = 0, timestamp_ms: int | None = None
    ) -> None:
        ts = timestamp_ms if timestamp_ms is not None else int(time.time() * 1000)
        for key, value in metrics.items():
            self._buffer.append((key, float(value), int(ts), int(step)))
        if len(self._buffer) > self.max_buffer:
            self._spill()

    @property
    def pending(self) -> int:
        """Points not yet sent: in memory plus in the journal."""
        return len(self._buffer) + self.journal.pending

    def fail_fast(self, retries: int | None = None) -> contextlib.AbstractContextManager[None]:
        """Short MLflow HTTP timeout and few retries in the block (default: the run-end ones)."""
        from unisim.journal import fail_fast_http

        return fail_fast_http(self.HTTP_TIMEOUT_S, self.END_RETRIES if retries is None else retries)

    def _spill(self) -> None:
        """Move the buffer into the journal; if the journal is busy, keep it in memory."""
        from unisim.journal import JournalBusy, Point

        try:
            self.journal.append([Point(*p) for p in self._buffer])
        except (JournalBusy, OSError) as exc:
            log.warning(
                "run %s: could not journal %d points: %s", self.run_id, len(self._buffer), exc
            )
            return
        self._buffer.clear()

    def flush(self) -> bool:
        """Send what is pending; True when all of it reached the server (never blocks long)."""
        if not self._buffer and not self.journal.pending:
            return True
        if time.monotonic() < self._retry_at:
            self._spill()
            return False
        from unisim.journal import CHUNK, Point, is_outage, send_points, upload

        try:
            with self.fail_fast(self.FLUSH_RETRIES):
                if self.journal.pending:
                    self.sent += upload(self.journal, self.client)[0]
                while self._buffer:
                    chunk = self._buffer[:CHUNK]
                    send_points(self.client, self.run_id, [Point(*p) for p in chunk])
                    del self._buffer[: len(chunk)]
                    self.sent += len(chunk)
        except Exception as exc:
            if not is_outage(exc):
                raise
            self._failures += 1
            delay = min(self.BACKOFF_S * 2 ** (self._failures - 1), self.MAX_BACKOFF_S)
            self._retry_at = time.monotonic() + delay
            self._spill()
            level = logging.WARNING if self._failures == 1 else logging.DEBUG
            log.log(
                level,
                "run %s: tracking server unreachable (%s); %d points kept in %s, retry in %.0f s",
                self.run_id,
                str(exc).splitlines()[0][:200],
                self.pending,
                self.journal.path,
                delay,
            )
            return False
        if self._failures:
            log.warning("run %s: tracking server answers again; journaled points sent", self.run_id)
            self._failures, self._retry_at = 0, 0.0
        return True

    def close(self) -> int:
        """Last attempt at run end (ignores the backoff); never raises.

        Returns the number of points left in the journal for ``unisim sync``.
        """
        self._retry_at = 0.0
        try:
            self.flush()
        except Exception as exc:
            log.warning("run %s: metric points rejected: %s", self.run_id, describe_error(exc))
        if self._buffer:
            self._spill()
        if self.pending:
            log.warning(
                "run %s: %d metric points not sent; kept in %s - upload them with `unisim sync`",
                self.run_id,
                self.pending,
                self.journal.path,
            )
        return self.pending

    def defer_end(self, status: str) -> None:
        """The server could not be told that the run ended: ``unisim sync`` will."""
        try:
            self.journal.set_end(status)
        except Exception as exc:
            log.warning("run %s: could not journal its end: %s", self.run_id, exc)


# ---------------------------------------------------------------- runs


class TrackedRun:
    """An open MLflow run with the helpers unisim needs; made by ``start_run``."""

    def __init__(self, client: MlflowClient, run_id: str, experiment_id: str) -> None:
        self.client = client
        self.run_id = run_id
        self.experiment_id = experiment_id
        self.metrics = MetricLogger(client, run_id)

    def set_tags(self, tags: dict[str, Any]) -> None:
        from mlflow.entities import RunTag

        items = [RunTag(k, str(v)) for k, v in tags.items() if v is not None]
        for i in range(0, len(items), MAX_BATCH_PARAMS):
            self.client.log_batch(self.run_id, tags=items[i : i + MAX_BATCH_PARAMS])

    def log_params(self, params: dict[str, str]) -> None:
        """Log params once; a param already logged with the same value is skipped."""
        from mlflow.entities import Param

        existing = self.client.get_run(self.run_id).data.params
        changed = {k: v for k, v in params.items() if k in existing and existing[k] != str(v)}
        if changed:
            key = next(iter(changed))
            raise UnisimError(
                f"run {self.run_id}: param {key} already logged as {existing[key]!r} "
                f"(got {changed[key]!r}); MLflow params cannot change"
            )
        items = [Param(k, str(v)) for k, v in params.items() if k not in existing]
        for i in range(0, len(items), MAX_BATCH_PARAMS):
            self.client.log_batch(self.run_id, params=items[i : i + MAX_BATCH_PARAMS])

    def log_config(self, cfg: Config) -> None:
        """Flattened params, the resolved ``config.yaml`` artifact and the config hash tag."""
        from unisim.config import config_hash, flatten, to_yaml

        self.log_params(flatten(cfg))
        self.log_text(to_yaml(cfg), "config.yaml")
        self.set_tags({TAG_CONFIG_HASH: config_hash(cfg)})

    def log_text(self, text: str, artifact_file: str) -> None:
        self.client.log_text(self.run_id, text, artifact_file)

    def log_dict(self, data: dict[str, Any], artifact_file: str) -> None:
        self.log_text(json.dumps(data, indent=2, sort_keys=False, default=str), artifact_file)

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        self.client.log_artifact(self.run_id, str(path), artifact_path)

    def log_dataset(
        self, *, name: str, source: str, digest: str, context: str = "training"
    ) -> None:
        """Record a dataset as a run input (lineage): digest = data hash, source = file."""
        from mlflow.data.dataset_source_registry import resolve_dataset_source
        from mlflow.data.meta_dataset import MetaDataset
        from mlflow.entities import DatasetInput, InputTag

        with warnings.catch_warnings():  # MLflow registers two equivalent local-file sources
            warnings.simplefilter("ignore", UserWarning)
            resolved = resolve_dataset_source(str(Path(source).resolve()))
        dataset = MetaDataset(source=resolved, name=name, digest=digest)
        tags = [InputTag(key="mlflow.data.context", value=context)]
        self.client.log_inputs(
            self.run_id, datasets=[DatasetInput(dataset._to_mlflow_entity(), tags)]
        )
        self.set_tags({TAG_DATA_HASH: digest})

    def log_model(
        self,
        model: Any,
        *,
        input_example: Any,
        pip_requirements: list[str] | None = None,
        name: str = "model",
        serialization_format: str | None = None,
    ) -> str:
        """Log a torch model (signature from the example); returns its ``runs:/`` URI.

        ``serialization_format``: "pickle" or "pt2" (None: MLflow's default, pt2).
        """
        import mlflow
        import mlflow.pytorch

        reqs = pip_requirements if pip_requirements is not None else default_pip_requirements()
        active = mlflow.active_run()
        ctx = (
            contextlib.nullcontext()
            if active is not None and active.info.run_id == self.run_id
            else _reactivate(self.run_id)
        )
        with ctx:
            mlflow.pytorch.log_model(
                model,
                name=name,
                input_example=input_example,
                pip_requirements=reqs,
                serialization_format=serialization_format,
            )
        return f"runs:/{self.run_id}/{name}"

    def ui_url(self, target: TrackingTarget) -> str:
        return run_url(target, self.experiment_id, self.run_id)


@contextlib.contextmanager
def _reactivate(run_id: str) -> Iterator[None]:
    """Make ``run_id`` the fluent active run without ending it afterwards."""
    import mlflow
    from mlflow.tracking import fluent

    mlflow.start_run(run_id=run_id, nested=mlflow.active_run() is not None)
    try:
        yield
    finally:
        fluent._active_run_stack.get().pop()  # leave the run RUNNING; our context ends it


def default_pip_requirements() -> list[str]:
    """Pinned requirements of a logged model (inferring them costs seconds)."""
    from importlib.metadata import PackageNotFoundError, version

    reqs = []
    for pkg in ("torch", "numpy", "mlflow"):
        with contextlib.suppress(PackageNotFoundError):
            reqs.append(f"{pkg}=={version(pkg).split('+')[0]}")
    return reqs


def describe_error(exc: BaseException) -> str:
    """One line, at most 500 characters, for `unisim.failure_reason` and logs."""
    text = f"{type(exc).__name__}: {exc}".splitlines()[0] if str(exc) else type(exc).__name__
    return text[:500]


@contextlib.contextmanager
def start_run(
    *,
    kind: str,
    experiment: str,
    target: TrackingTarget | None = None,
    cfg: Config | None = None,
    config_path: str | Path | None = None,
    stage: str | None = None,
    parent_run_id: str | None = None,
    resume_run_id: str | None = None,
    run_name: str | None = None,
    tags: dict[str, str] | None = None,
) -> Iterator[TrackedRun]:
    """Open (or resume) a run with the standard tags and close it with the right status.

    Exit states: FINISHED (``unisim.status=success`` unless the block set another
    status), FAILED on an exception (``unisim.failure_reason``), KILLED on
    KeyboardInterrupt. Buffered metrics are flushed in every case.
    """
    import mlflow

    target = target or resolve_tracking()
    client = configure(target)
    exp_dir = experiment_dir_of(config_path)
    exp_tags = {TAG_EXPERIMENT_DIR: exp_dir} if exp_dir else None
    experiment_id = get_or_create_experiment(client, experiment, target, exp_tags)

    std = {TAG_KIND: kind, TAG_STATUS: STATUS_RUNNING, **version_tags()}
    std.update(git_info(Path(config_path).parent if config_path else None))
    if stage:
        std[TAG_STAGE] = stage
    if exp_dir:
        std[TAG_EXPERIMENT_DIR] = exp_dir
    if parent_run_id:
        std[TAG_PARENT_RUN] = parent_run_id
    if cfg is not None:
        std.update(cfg.tracking.tags)
    std.update(tags or {})

    active = mlflow.active_run()
    if resume_run_id:
        mlflow.start_run(run_id=resume_run_id, nested=active is not None)
    else:
        mlflow.start_run(
            experiment_id=experiment_id,
            run_name=run_name,
            nested=active is not None,
            parent_run_id=parent_run_id if active is None else None,
        )
    run_id = mlflow.active_run().info.run_id
    run = TrackedRun(client, run_id, experiment_id)
    run.set_tags(std)
    if cfg is not None:
        run.log_config(cfg)

    status = "FINISHED"
    try:
        yield run
    except KeyboardInterrupt:
        status = "KILLED"
        _close_tags(run, "interrupted (KeyboardInterrupt)")
        raise
    except BaseException as exc:
        status = "FAILED"
        _close_tags(run, describe_error(exc))
        raise
    finally:
        # The server may be down: fail fast, never raise here, leave the rest to `unisim sync`.
        with run.metrics.fail_fast():
            unsent = run.metrics.close()  # unsent points stay in the run's journal
            try:
                try:
                    if unsent:
                        run.set_tags({"unisim.metrics_unsent": unsent})
                    if status == "FINISHED":
                        current = client.get_run(run_id).data.tags.get(TAG_STATUS)
                        if current in (None, STATUS_RUNNING):
                            run.set_tags({TAG_STATUS: STATUS_SUCCESS})
                finally:
                    mlflow.end_run(status)
            except Exception as exc:
                log.warning("run %s: could not record its end: %s", run_id, describe_error(exc))
                run.metrics.defer_end(status)


def _close_tags(run: TrackedRun, reason: str) -> None:
    try:
        with run.metrics.fail_fast():  # the store itself may be down: do not stall for minutes
            run.set_tags({TAG_STATUS: STATUS_FAILED, TAG_FAILURE_REASON: reason})
    except Exception as exc:  # the store itself may be what failed
        log.warning("could not tag run %s as failed: %s", run.run_id, exc)


# ---------------------------------------------------------------- UI links


def experiment_url(target: TrackingTarget, experiment_id: str) -> str:
    return f"{target.ui_base()}/#/experiments/{experiment_id}/runs"


def run_url(target: TrackingTarget, experiment_id: str, run_id: str) -> str:
    return f"{target.ui_base()}/#/experiments/{experiment_id}/runs/{run_id}"


def compare_url(target: TrackingTarget, experiment_id: str, run_ids: list[str]) -> str:
    from urllib.parse import quote

    runs = quote(json.dumps(run_ids, separators=(",", ":")))
    exps = quote(json.dumps([experiment_id], separators=(",", ":")))
    return f"{target.ui_base()}/#/compare-runs?runs={runs}&experiments={exps}"


def model_url(target: TrackingTarget, name: str) -> str:
    return f"{target.ui_base()}/#/models/{name}"


def ui_command(target: TrackingTarget) -> str:
    return "unisim ui" if target.is_local else f"open {target.ui_base()}"
