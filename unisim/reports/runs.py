"""Browse MLflow runs from the terminal: list, show, compare, and links into the MLflow UI.

    rows = list_runs(target, "2026-11-29-64dim-latent", kind="pipeline", limit=20)
    detail = show_run(target, run_id)          # params, metrics, tags, artifacts, UI URL
    cmp = compare_runs(target, [id1, id2])     # params that differ, metrics side by side
    run_link(target, run_id)                   # the run's page in the MLflow UI

An EXPERIMENT is an MLflow experiment name, an id, or its folder
(``experiments/NAME``). Searches use the tracking store's paged finders, newest first, never
pandas; ``--filter`` is MLflow's search syntax (``metrics.final_nrmse < 0.1``).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

from unisim import tracking as T
from unisim.errors import UnisimError

MAX_ARTIFACTS = 200
# Metrics where lower is better, so compare can mark the best run.
_LOWER_IS_BETTER = re.compile(r"nrmse|loss|rmse|mse|mae|gap|violation|wall_clock|cost")


def _dt(ms: int | None) -> str | None:
    return (
        datetime.fromtimestamp(ms / 1000, timezone.utc).isoformat(timespec="seconds")
        if ms
        else None
    )


def _store(target: T.TrackingTarget | None) -> T.Store:
    return T.connect(target or T.resolve_tracking())


@dataclass
class RunListing:
    run_id: str
    experiment: str
    name: str
    kind: str | None
    stage: str | None
    state: str
    status: str | None  # unisim.status
    gates_passed: str | None
    final_nrmse: float | None
    started: str | None  # ISO time, UTC
    duration_s: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def list_runs(
    target: T.TrackingTarget | None = None,
    experiment: str | None = None,
    *,
    filter_string: str | None = None,
    kind: str | None = None,
    limit: int = 50,
) -> list[RunListing]:
    """Newest runs first, in one experiment or in all of them."""
    store = _store(target)
    exps = [store.resolve_experiment(experiment)] if experiment else store.active_experiments()
    names = {e.experiment_id: e.name for e in exps}
    parts = [filter_string]
    if kind:
        if not re.fullmatch(r"[A-Za-z_]+", kind):
            raise UnisimError(f"--kind {kind!r}: expected a word such as pipeline, train, evaluate")
        parts.append(f"tags.`{T.TAG_KIND}` = '{kind}'")
    flt = " and ".join(p for p in parts if p)
    if not names:
        return []
    try:
        runs = store.search_runs(list(names), flt, max_results=limit, order_by=T.NEWEST_FIRST)
    except UnisimError as exc:
        raise UnisimError(f"--{exc}") from None
    out = []
    for run in runs:
        info, tags = run.info, run.data.tags
        dur = (
            (info.end_time - info.start_time) / 1000 if info.end_time and info.start_time else None
        )
        out.append(
            RunListing(
                run_id=info.run_id,
                experiment=names.get(info.experiment_id, info.experiment_id),
                name=info.run_name or "",
                kind=tags.get(T.TAG_KIND),
                stage=tags.get(T.TAG_STAGE),
                state=info.status,
                status=tags.get(T.TAG_STATUS),
                gates_passed=tags.get(T.TAG_GATES_PASSED),
                final_nrmse=run.data.metrics.get(T.FINAL_NRMSE),
                started=_dt(info.start_time),
                duration_s=dur,
            )
        )
    return out


@dataclass
class RunDetails:
    run_id: str
    experiment_id: str
    experiment: str
    name: str
    state: str
    started: str | None
    ended: str | None
    params: dict[str, str]
    metrics: dict[str, float]
    tags: dict[str, str]
    artifacts: list[str]
    url: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def show_run(target: T.TrackingTarget | None, run_id: str) -> RunDetails:
    """Everything about one run, and its page in the MLflow UI."""
    store = _store(target)
    run = store.get_run(run_id)
    info = run.info
    exp = store.experiment(info.experiment_id)
    return RunDetails(
        run_id=info.run_id,
        experiment_id=info.experiment_id,
        experiment=exp.name,
        name=info.run_name or "",
        state=info.status,
        started=_dt(info.start_time),
        ended=_dt(info.end_time),
        params=dict(sorted(run.data.params.items())),
        metrics=dict(sorted(run.data.metrics.items())),
        tags=dict(sorted(run.data.tags.items())),
        artifacts=store.artifact_paths(info.run_id, MAX_ARTIFACTS),
        url=T.run_url(store.target, info.experiment_id, info.run_id),
    )


@dataclass
class Comparison:
    run_ids: list[str]
    names: list[str]
    params: dict[str, list[str | None]]  # only the params whose values differ
    same_params: int  # how many params all runs share with one value
    metrics: dict[str, list[float | None]]
    best: dict[str, int]  # metric -> index of the best run (lower-is-better metrics)
    url: str
    warnings: list[str] = field(default_factory=list)  # e.g. runs of different protocols

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def compare_runs(target: T.TrackingTarget | None, run_ids: list[str]) -> Comparison:
    """The params that differ and the metrics side by side, like the UI's compare view."""
    if len(run_ids) < 2:
        raise UnisimError("compare: give two or more run ids")
    if len(set(run_ids)) != len(run_ids):
        raise UnisimError("compare: a run id is given twice")
    store = _store(target)
    runs = [store.get_run(r) for r in run_ids]
    keys = sorted(set().union(*(r.data.params for r in runs)))
    params = {k: [r.data.params.get(k) for r in runs] for k in keys}
    differing = {k: v for k, v in params.items() if len(set(v)) > 1}
    mkeys = sorted(set().union(*(r.data.metrics for r in runs)))
    metrics = {k: [r.data.metrics.get(k) for r in runs] for k in mkeys}
    best = {}
    for key, values in metrics.items():
        present = [(v, i) for i, v in enumerate(values) if v is not None]
        if _LOWER_IS_BETTER.search(key) and len(present) > 1:
            best[key] = min(present)[1]
    exp_id = runs[0].info.experiment_id  # the UI link takes one experiment
    warnings = []
    protocols = {r.data.tags.get(T.TAG_PROTOCOL) for r in runs}
    if len(protocols) > 1:
        which = ", ".join(
            f"{r.info.run_id[:8]}: {r.data.tags.get(T.TAG_PROTOCOL) or 'unknown'} "
            f"({r.data.tags.get(T.TAG_PROTOCOL_SUMMARY) or 'no protocol recorded'})"
            for r in runs
        )
        warnings.append(
            f"these runs were measured under different protocols ({which}): their metrics "
            f"are not comparable"
        )
    return Comparison(
        run_ids=list(run_ids),
        names=[r.info.run_name or r.info.run_id[:8] for r in runs],
        params=differing,
        same_params=len(params) - len(differing),
        metrics=metrics,
        best=best,
        url=T.compare_url(store.target, exp_id, list(run_ids)),
        warnings=warnings,
    )


def run_link(target: T.TrackingTarget | None, run_id: str) -> str:
    """The run's page in the MLflow UI (runs table of its experiment, run selected)."""
    store = _store(target)
    run = store.get_run(run_id)
    return T.run_url(store.target, run.info.experiment_id, run.info.run_id)
