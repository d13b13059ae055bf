"""Open runs: ``start_run`` gives a ``TrackedRun`` and closes it with the right status.

    target = resolve_tracking()                   # --tracking-uri > env > profile > local
    with start_run(kind=Kind.TRAIN, experiment="burgers", cfg=cfg, target=target) as run:
        run.metrics.log({"train/loss": 0.1}, step=1)  # buffered, sent with log_batch
        run.metrics.flush()                           # at epoch ends; also at exit
        run.set_tags({...}); run.log_dict({...}, "report.json"); run.log_model(model, ...)

A run ends FINISHED (``unisim.status=success`` unless the block set another
status), FAILED (``unisim.failure_reason``) or KILLED (Ctrl-C, SIGTERM; and
``unisim runs end --stale`` for a process that died); buffered metric points are
sent before it ends, whatever happened (or, when the server is unreachable, kept
with the end and its reason in the run's local journal for ``unisim sync``).
Every run records its host and process (stale.py).
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from unisim.errors import TrackingUnavailable, UnisimError, interrupt_reason
from unisim.faults import fault
from unisim.tracking.client import Store, connect
from unisim.tracking.links import run_url
from unisim.tracking.metrics import MetricLogger
from unisim.tracking.provenance import experiment_dir_of, git_info, version_tags
from unisim.tracking.schema import (
    MLFLOW_PARENT_TAG,
    OUTAGE_REASON,
    TAG_CONFIG_HASH,
    TAG_DATA_HASH,
    TAG_EXPERIMENT_DIR,
    TAG_KIND,
    TAG_METRICS_UNSENT,
    TAG_PARENT_RUN,
    TAG_PROTOCOL,
    TAG_PROTOCOL_SUMMARY,
    TAG_STAGE,
    TAG_STATUS,
    Status,
)
from unisim.tracking.stale import end_stale_runs, process_tags
from unisim.tracking.store import TrackingTarget, resolve_tracking
from unisim.tracking.transport import (
    MAX_BATCH_PARAMS,
    describe_error,
    note_down,
    recently_down,
    unreachable,
    user_error,
)

if TYPE_CHECKING:
    from unisim.config import Config

log = logging.getLogger(__name__)


class TrackedRun:
    """An open MLflow run with the helpers unisim needs; made by ``start_run``."""

    def __init__(self, store: Store, run_id: str, experiment_id: str) -> None:
        self.store = store
        self.run_id = run_id
        self.experiment_id = experiment_id
        self.metrics = MetricLogger(store.client, run_id)

    @property
    def tags(self) -> dict[str, str]:
        """The run's tags as stored now."""
        return dict(self.store.get_run(self.run_id).data.tags)

    def set_tags(self, tags: dict[str, Any]) -> None:
        self.store.set_tags(self.run_id, tags)

    def delete_tag(self, key: str) -> None:
        self.store.delete_tag(self.run_id, key)

    def set_status(self, status: str, reason: str | None = None) -> None:
        self.store.set_status(self.run_id, status, reason=reason)

    def log_params(self, params: dict[str, str]) -> None:
        """Log params once; a param already logged with the same value is skipped."""
        from mlflow.entities import Param

        existing = self.store.get_run(self.run_id).data.params
        changed = {k: v for k, v in params.items() if k in existing and existing[k] != str(v)}
        if changed:
            key = next(iter(changed))
            raise UnisimError(
                f"run {self.run_id}: param {key} already logged as {existing[key]!r} "
                f"(got {changed[key]!r}); MLflow params cannot change"
            )
        items = [Param(k, str(v)) for k, v in params.items() if k not in existing]
        for i in range(0, len(items), MAX_BATCH_PARAMS):
            self.store.client.log_batch(self.run_id, params=items[i : i + MAX_BATCH_PARAMS])

    def log_config(self, cfg: Config) -> None:
        """Flattened params, the resolved ``config.yaml`` artifact and the config hash tag.

        The params leave out what would mislead (``run_params``): the free-text
        ``description`` and, off Vast.ai, the ``vast.*`` section.
        """
        from unisim.config import config_hash, to_yaml
        from unisim.config.protocol import protocol

        self.log_params(run_params(cfg))
        self.log_text(to_yaml(cfg), "config.yaml")
        tag, summary = protocol(cfg)
        self.set_tags(
            {TAG_CONFIG_HASH: config_hash(cfg), TAG_PROTOCOL: tag, TAG_PROTOCOL_SUMMARY: summary}
        )

    def log_text(self, text: str, artifact_file: str) -> None:
        self.store.log_text(self.run_id, text, artifact_file)

    def log_dict(self, data: dict[str, Any], artifact_file: str) -> None:
        self.store.log_dict(self.run_id, data, artifact_file)

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        self.store.log_artifact(self.run_id, str(path), artifact_path)

    def logged_steps(self, keys: tuple[str, ...]) -> dict[str, set[int]]:
        """Steps already stored on the server for each metric key (resume)."""
        return self.store.logged_steps(self.run_id, keys)

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
        self.store.client.log_inputs(
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
        code_paths: list[str] | None = None,
    ) -> str:
        """Log a torch model (signature from the example); returns its ``runs:/`` URI.

        ``serialization_format``: "pickle" or "pt2" (None: MLflow's default, pt2);
        ``code_paths``: source folders stored with the model and put on ``sys.path`` when
        it is loaded (``unisim.models.code``: a pickled model then loads without unisim).
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
            pending = mlflow.initialize_logged_model(name=name, source_run_id=self.run_id)
            fault("log-model", "pending")  # crash tests: a kill while the model is PENDING
            mlflow.pytorch.log_model(
                model,
                name=name,
                input_example=input_example,
                pip_requirements=reqs,
                serialization_format=serialization_format,
                model_id=pending.model_id,
                code_paths=code_paths,
            )
        return f"runs:/{self.run_id}/{name}"

    def ui_url(self, target: TrackingTarget | None = None) -> str:
        return run_url(target or self.store.target, self.experiment_id, self.run_id)


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


VAST_ENV = "UNISIM_VAST_INSTANCE"  # set by the Vast.ai onstart script


def run_params(cfg: Config) -> dict[str, str]:
    """The flattened config as MLflow params, without the sections that do not apply.

    ``description`` is prose written for the file it came from (``--set`` does not update
    it), so it is not a param; the ``vast.*`` settings matter only on a rented instance.
    """
    import os

    from unisim.config import flatten

    on_vast = bool(os.environ.get(VAST_ENV))
    return {
        k: v
        for k, v in flatten(cfg).items()
        if k != "description" and (on_vast or not k.startswith("vast."))
    }


def default_pip_requirements() -> list[str]:
    """Pinned requirements of a logged model (inferring them costs seconds)."""
    from importlib.metadata import PackageNotFoundError, version

    reqs = []
    for pkg in ("torch", "numpy", "mlflow"):
        with contextlib.suppress(PackageNotFoundError):
            reqs.append(f"{pkg}=={version(pkg).split('+')[0]}")
    return reqs


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
    KeyboardInterrupt or SIGTERM. Buffered metrics are flushed in every case. When the
    server cannot be told, the end waits in the run's journal for ``unisim sync``;
    a failure caused by the outage becomes one ``TrackingUnavailable`` naming it.
    A top-level run first ends the stale runs of its experiment (stale.py).
    """
    import mlflow

    store = connect(target or resolve_tracking())
    exp_dir = experiment_dir_of(config_path)
    exp_tags = {TAG_EXPERIMENT_DIR: exp_dir} if exp_dir else None
    experiment_id = store.get_or_create_experiment(experiment, exp_tags)
    if parent_run_id is None:  # kill -9 leaves runs RUNNING forever: end them before anew
        end_stale_runs(store, [experiment_id], by=f"the next run in experiment {experiment!r}")

    std = {TAG_KIND: str(kind), TAG_STATUS: Status.RUNNING.value, **version_tags()}
    std.update(process_tags())
    std.update(git_info(Path(config_path).parent if config_path else None))
    if stage:
        std[TAG_STAGE] = str(stage)
    if exp_dir:
        std[TAG_EXPERIMENT_DIR] = exp_dir
    if parent_run_id:
        # the parent named wins over the active run MLflow would nest under (a resumed run
        # continues under the run that resumed it; a suite's held-out evaluation goes under
        # its pipeline run, not the suite's)
        std[TAG_PARENT_RUN] = std[MLFLOW_PARENT_TAG] = parent_run_id
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
    run = TrackedRun(store, run_id, experiment_id)
    run.set_tags(std)
    if cfg is not None:
        run.log_config(cfg)

    try:
        yield run
    except KeyboardInterrupt as exc:
        fault(f"{kind}-end", "interrupted")  # crash tests: a process that dies while stopping
        _say_journaled(run, "KILLED", _close(run, "KILLED", interrupt_reason(exc)))
        raise
    except BaseException as exc:
        reason = describe_error(exc)
        outage = unreachable(exc)
        if outage:
            note_down(store.target.uri)
            reason = f"{OUTAGE_REASON}: {reason.split(': ', 1)[-1]}"
        journaled = _close(run, "FAILED", reason)
        if not (outage and journaled):
            _say_journaled(run, "FAILED", journaled)
            raise
        if isinstance(exc, TrackingUnavailable):  # an inner run's: add this one
            raise TrackingUnavailable(exc.message, [*exc.journaled, (run_id, "FAILED")]) from exc
        err = user_error(exc, store.target.uri)
        message = str(err) if err is not None else reason
        raise TrackingUnavailable(message, [(run_id, "FAILED")]) from exc
    else:
        _say_journaled(run, "FINISHED", _close(run, "FINISHED", None))


def _say_journaled(run: TrackedRun, status: str, journaled: bool) -> None:
    """One line when only the journal knows how the run ended (an error says it otherwise)."""
    if journaled:
        log.warning(
            "run %s: ended %s, but the tracking server is unreachable: kept in %s; "
            "`unisim sync` records it once the server answers",
            run.run_id,
            status,
            run.metrics.journal.path,
        )


def _pop_active(run_id: str) -> None:
    """End MLflow's fluent run locally (the server is not told: the journal will)."""
    from mlflow.tracking import fluent

    stack = fluent._active_run_stack.get()
    if stack and stack[-1].info.run_id == run_id:
        stack.pop()


def _close(run: TrackedRun, status: str, reason: str | None) -> bool:
    """End ``run`` with MLflow ``status``; True when only its journal could record that.

    Never raises and never waits long: the server may be what failed. Once it was seen
    down (this run or an inner one), nothing more is sent; the journal keeps the points,
    the end and the reason, and ``unisim sync`` writes them later.
    """
    import mlflow

    store, uri = run.store, run.store.target.uri
    with run.metrics.fail_fast():
        unsent = run.metrics.close(try_server=not recently_down(uri))
        if not recently_down(uri):  # the last flush may just have found it down
            try:
                try:
                    if unsent:
                        run.set_tags({TAG_METRICS_UNSENT: unsent})
                    if status == "FINISHED":
                        current = store.get_run(run.run_id).data.tags.get(TAG_STATUS)
                        if current in (None, Status.RUNNING):
                            store.set_status(run.run_id, Status.SUCCESS)
                    else:
                        store.set_status(run.run_id, Status.FAILED, reason=reason)
                        store.fail_pending_models(run.run_id, run.experiment_id)
                finally:
                    mlflow.end_run(status)
                return False
            except Exception as exc:
                if unreachable(exc):
                    note_down(uri)
                else:
                    why = describe_error(exc)
                    log.warning("run %s: could not record its end: %s", run.run_id, why)
    _pop_active(run.run_id)
    run.metrics.defer_end(status, reason)
    return True
