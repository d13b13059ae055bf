"""Typed finders over runs and experiments: every MLflow filter string of unisim lives here.

    store = connect(target)
    store.get_run(run_id)                                   # UnisimError when missing
    store.find_train_run(exp_id, cfg_hash, data_hash)       # finished, newest, or None
    store.find_interrupted_train_run(exp_id, cfg_hash, data_hash)   # KILLED or cut off
    store.find_evaluation(exp_id, eval_key)
    store.children(parent_run_id, exp_id, kind=Kind.TRAIN)
    store.best_pipeline_runs(exp_id)                        # gates passed, best first
    for run in store.iter_runs([exp_id], "attributes.status = 'RUNNING'"): ...

Pagination is MLflow's own (``get_results_from_paginated_fn``); experiment ids go
to the server 100 at a time. Returned runs are MLflow's ``Run`` entities: read-only
data (``run.info``, ``run.data.tags``), never a handle to write through.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from unisim.errors import UnisimError
from unisim.tracking.schema import (
    FINAL_NRMSE,
    MLFLOW_PARENT_TAG,
    OUTAGE_REASON,
    TAG_CONFIG_HASH,
    TAG_DATA_HASH,
    TAG_EVAL_KEY,
    TAG_FAILURE_REASON,
    TAG_GATES_PASSED,
    TAG_KIND,
    TAG_STATUS,
    Kind,
    Status,
)

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Experiment, Run

RUN_ID_RE = re.compile(r"^[0-9a-f]{32}$")  # MLflow run ids: 32 hex characters
PAGE = 1000  # MLflow's largest page of runs
ID_CHUNK = 100  # experiment ids per search (the server's limit)


def quote(value: str) -> str:
    """A value inside single quotes of an MLflow filter string."""
    return str(value).replace("\\", "\\\\").replace("'", "\\'")


def tag_is(key: str, value: str) -> str:
    return f"tags.`{key}` = '{quote(value)}'"


def all_of(*parts: str | None) -> str:
    return " and ".join(p for p in parts if p)


FINISHED = "attributes.status = 'FINISHED'"
RUNNING = "attributes.status = 'RUNNING'"
NEWEST_FIRST = ["attributes.start_time DESC"]


class Queries:
    """Read-only questions to the store (a mixin of ``Store``; ``self.client`` is MLflow's)."""

    client: MlflowClient

    # ------------------------------------------------------------ runs by id
    def find_run(self, run_id: str) -> Run | None:
        """The run, or None when the id is malformed or unknown."""
        from mlflow.exceptions import MlflowException

        if not RUN_ID_RE.match(run_id or ""):
            return None
        try:
            return self.client.get_run(run_id)
        except MlflowException:
            return None

    def get_run(self, run_id: str) -> Run:
        """The run; a one-line UnisimError (exit 2) when the id is malformed or unknown."""
        if not RUN_ID_RE.match(run_id or ""):
            raise UnisimError(f"run {run_id!r}: not a run id (32 hex characters)")
        run = self.find_run(run_id)
        if run is None:
            raise UnisimError(f"run {run_id}: not found in the tracking store")
        return run

    # ------------------------------------------------------------ experiments
    def experiment_by_name(self, name: str) -> Experiment | None:
        """The active experiment called ``name`` (None if missing or deleted)."""
        exp = self.client.get_experiment_by_name(name)
        return exp if exp is not None and exp.lifecycle_stage == "active" else None

    def experiment(self, experiment_id: str) -> Experiment:
        return self.client.get_experiment(experiment_id)

    def experiment_name(self, experiment_id: str) -> str:
        return self.client.get_experiment(experiment_id).name

    def resolve_experiment(self, spec: str) -> Experiment:
        """An experiment by name, by folder (``experiments/NAME``) or by id; UnisimError if none."""
        from mlflow.exceptions import MlflowException

        name = Path(spec.rstrip("/")).name if "/" in spec else spec
        exp = self.client.get_experiment_by_name(name)
        if exp is None and spec.isdigit():
            try:
                exp = self.client.get_experiment(spec)
            except MlflowException:
                exp = None
        if exp is None:
            raise UnisimError(f"experiment {spec!r}: not found in the tracking store")
        return exp

    def active_experiments(self) -> list[Experiment]:
        """Every active experiment, page by page."""
        from mlflow.entities import ViewType
        from mlflow.utils import get_results_from_paginated_fn

        return get_results_from_paginated_fn(
            lambda n, token: self.client.search_experiments(
                view_type=ViewType.ACTIVE_ONLY, max_results=n, page_token=token
            ),
            PAGE,
        )

    # ------------------------------------------------------------ searches
    def iter_runs(
        self,
        experiment_ids: list[str],
        filter_string: str = "",
        *,
        order_by: list[str] | None = None,
        max_results: int | None = None,
    ) -> Iterator[Run]:
        """Every run matching ``filter_string`` (MLflow syntax), across any number of ids."""
        from mlflow.utils import get_results_from_paginated_fn

        left = max_results
        for i in range(0, len(experiment_ids), ID_CHUNK):
            ids = experiment_ids[i : i + ID_CHUNK]
            page = get_results_from_paginated_fn(
                lambda n, token, ids=ids: self.client.search_runs(
                    ids, filter_string, max_results=n, order_by=order_by, page_token=token
                ),
                PAGE,
                left,
            )
            yield from page
            if left is not None:
                left -= len(page)
                if left <= 0:
                    return

    def search_runs(
        self,
        experiment_ids: list[str],
        filter_string: str = "",
        *,
        order_by: list[str] | None = None,
        max_results: int | None = None,
    ) -> list[Run]:
        """``iter_runs`` as a list; a filter MLflow refuses is a one-line UnisimError."""
        from mlflow.exceptions import MlflowException

        try:
            return list(
                self.iter_runs(
                    experiment_ids, filter_string, order_by=order_by, max_results=max_results
                )
            )
        except MlflowException as exc:
            if exc.error_code != "INVALID_PARAMETER_VALUE":
                raise
            raise UnisimError(f"filter {filter_string!r}: {str(exc).splitlines()[0]}") from None

    def _newest(self, experiment_ids: list[str], filter_string: str) -> Run | None:
        """The newest run matching the filter across the experiments (one search per chunk)."""
        best = None
        for i in range(0, len(experiment_ids), ID_CHUNK):
            runs = self.client.search_runs(
                experiment_ids[i : i + ID_CHUNK],
                filter_string,
                order_by=NEWEST_FIRST,
                max_results=1,
            )
            if runs and (best is None or runs[0].info.start_time > best.info.start_time):
                best = runs[0]
        return best

    # ------------------------------------------------------------ the finders unisim needs
    def find_train_run(self, experiment_id: str, config_hash: str, data_hash: str) -> Run | None:
        """The newest finished train run with this config and data (reuse in the pipeline)."""
        return self._newest(
            [experiment_id],
            all_of(
                tag_is(TAG_KIND, Kind.TRAIN),
                FINISHED,
                tag_is(TAG_CONFIG_HASH, config_hash),
                tag_is(TAG_DATA_HASH, data_hash),
            ),
        )

    def find_interrupted_train_run(
        self, experiment_id: str, config_hash: str, data_hash: str
    ) -> Run | None:
        """The newest train run with this config and data that was cut off, not failed by
        its own doing: KILLED (Ctrl-C, SIGTERM, a dead process), or FAILED because the
        tracking server was unreachable. The pipeline resumes it from its checkpoint."""
        same = (tag_is(TAG_KIND, Kind.TRAIN), tag_is(TAG_CONFIG_HASH, config_hash))
        same += (tag_is(TAG_DATA_HASH, data_hash),)
        killed = self._newest([experiment_id], all_of(*same, "attributes.status = 'KILLED'"))
        cut = self._newest([experiment_id], all_of(*same, "attributes.status = 'FAILED'"))
        if cut is not None and not cut.data.tags.get(TAG_FAILURE_REASON, "").startswith(
            OUTAGE_REASON
        ):
            cut = None
        found = [r for r in (killed, cut) if r is not None]
        return max(found, key=lambda r: r.info.start_time) if found else None

    def find_model_run(self, experiment_id: str, data_hash: str, model: str) -> Run | None:
        """The newest finished train run of architecture ``model`` on this data (baselines)."""
        return self._newest(
            [experiment_id],
            all_of(
                f"params.`model.name` = '{quote(model)}'",
                FINISHED,
                tag_is(TAG_KIND, Kind.TRAIN),
                tag_is(TAG_DATA_HASH, data_hash),
            ),
        )

    def find_evaluation(self, experiment_id: str, eval_key: str) -> Run | None:
        """The newest finished evaluate run with this evaluation key (reuse in the pipeline)."""
        return self._newest(
            [experiment_id],
            all_of(tag_is(TAG_KIND, Kind.EVALUATE), FINISHED, tag_is(TAG_EVAL_KEY, eval_key)),
        )

    def children(
        self,
        parent_run_id: str,
        experiment_id: str,
        *,
        kind: str | None = None,
        running: bool = False,
    ) -> list[Run]:
        """The nested runs of ``parent_run_id``, newest first."""
        flt = all_of(
            tag_is(MLFLOW_PARENT_TAG, parent_run_id),
            tag_is(TAG_KIND, kind) if kind else None,
            RUNNING if running else None,
        )
        return list(self.iter_runs([experiment_id], flt, order_by=NEWEST_FIRST))

    def running_runs(self, experiment_id: str) -> list[Run]:
        return list(self.iter_runs([experiment_id], RUNNING))

    def newest_pipeline_run(
        self, experiment_ids: list[str], config_hash: str | None = None
    ) -> Run | None:
        """The newest pipeline run (of this config, when given) across the experiments."""
        return self._newest(
            experiment_ids,
            all_of(
                tag_is(TAG_KIND, Kind.PIPELINE),
                tag_is(TAG_CONFIG_HASH, config_hash) if config_hash else None,
            ),
        )

    def finished_pipeline_runs(self, experiment_id: str) -> list[Run]:
        """Finished pipeline runs of one experiment, lowest final_nrmse first."""
        return list(
            self.iter_runs(
                [experiment_id],
                all_of(tag_is(TAG_KIND, Kind.PIPELINE), FINISHED),
                order_by=[f"metrics.{FINAL_NRMSE} ASC", "attributes.start_time DESC"],
            )
        )

    def best_pipeline_runs(self, experiment_id: str) -> list[Run]:
        """Promotable pipeline runs: finished, gates passed, not archived, with a final_nrmse;
        lowest final_nrmse first."""
        return [
            r
            for r in self.finished_pipeline_runs(experiment_id)
            if r.data.tags.get(TAG_GATES_PASSED) == "true"
            and r.data.tags.get(TAG_STATUS) != Status.ARCHIVED
            and FINAL_NRMSE in r.data.metrics
        ]

    def gated_pipeline_runs(self, experiment_ids: list[str], *, running: bool = False) -> list[Run]:
        """Gates-passed pipeline runs (finished; also RUNNING ones when asked) for the board."""
        return list(
            self.iter_runs(
                experiment_ids,
                all_of(
                    tag_is(TAG_KIND, Kind.PIPELINE),
                    tag_is(TAG_GATES_PASSED, "true"),
                    None if running else FINISHED,
                ),
            )
        )

    def runs_by_id(self, experiment_ids: list[str], run_ids: list[str]) -> dict[str, Run]:
        """Runs by id in a few searches (``run_id IN (...)``, 100 ids at a time)."""
        out: dict[str, Run] = {}
        ids = sorted(set(run_ids))
        for i in range(0, len(ids), ID_CHUNK):
            quoted = ", ".join(f"'{quote(r)}'" for r in ids[i : i + ID_CHUNK])
            for run in self.iter_runs(experiment_ids, f"attributes.run_id IN ({quoted})"):
                out[run.info.run_id] = run
        return out

    def runs_of_kind(self, experiment_ids: list[str], kind: str) -> list[Run]:
        return list(self.iter_runs(experiment_ids, tag_is(TAG_KIND, kind)))

    def runs_with_tag(self, experiment_ids: list[str], key: str, value: str) -> list[Run]:
        return list(self.iter_runs(experiment_ids, tag_is(key, value)))

    # ------------------------------------------------------------ metric histories
    def metric_history(self, run_id: str, key: str) -> list[Any]:
        """Every stored point of one metric (MLflow ``Metric`` entities)."""
        return list(self.client.get_metric_history(run_id, key))

    def logged_steps(self, run_id: str, keys: tuple[str, ...]) -> dict[str, set[int]]:
        """Steps already stored for each metric key (resume without duplicates)."""
        return {k: {m.step for m in self.client.get_metric_history(run_id, k)} for k in keys}
