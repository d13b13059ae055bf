"""Browse MLflow runs from the terminal: list, show, compare, and links into the MLflow UI.

    rows = list_runs(target, "2026-11-29-64dim-latent", kind="pipeline", limit=20)
    detail = show_run(target, run_id)          # params, metrics, tags, children, artifacts, URL
    cmp = compare_runs(target, [id1, id2])     # params that differ, metrics side by side
    run_link(target, run_id)                   # the run's page in the MLflow UI

An EXPERIMENT is an MLflow experiment name, an id, or its folder (``experiments/NAME``).
Reads go through ``unisim.tracking.views``: one read-only SQL pass on database stores
(a fraction of a second on 10,000 runs, no mlflow import), MLflow's API on servers;
``--filter`` is MLflow's search syntax (``metrics.final_nrmse < 0.1``), so a filtered
listing always uses the API. ``show`` on a pipeline run lists its child runs, and
params of sections that do not apply to the run (``vast.*`` off Vast.ai) are left out.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from unisim import tracking as T
from unisim.errors import UnisimError
from unisim.tracking import views as V

MAX_ARTIFACTS = 200
# Metrics where lower is better, so compare can mark the best run.
_LOWER_IS_BETTER = re.compile(r"nrmse|loss|rmse|mse|mae|gap|violation|wall_clock|cost")


def _dt(ms: int | None) -> str | None:
    return (
        datetime.fromtimestamp(ms / 1000, timezone.utc).isoformat(timespec="seconds")
        if ms
        else None
    )


def _target(target: T.TrackingTarget | None) -> T.TrackingTarget:
    return target or T.resolve_tracking()


def resolve_experiment(target: T.TrackingTarget, spec: str) -> tuple[str, str]:
    """(id, name) of an experiment given by name, folder (``experiments/NAME``) or id."""
    names = V.experiment_names(target)
    name = Path(spec.rstrip("/")).name if "/" in spec else spec
    for eid, ename in names.items():
        if ename == name:
            return eid, ename
    if spec in names:
        return spec, names[spec]
    raise UnisimError(f"experiment {spec!r}: not found in the tracking store")


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


def _listing(run: Any, names: dict[str, str]) -> RunListing:
    info, tags = run.info, run.data.tags
    dur = (info.end_time - info.start_time) / 1000 if info.end_time and info.start_time else None
    return RunListing(
        run_id=info.run_id,
        experiment=names.get(str(info.experiment_id), str(info.experiment_id)),
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


def list_runs(
    target: T.TrackingTarget | None = None,
    experiment: str | None = None,
    *,
    filter_string: str | None = None,
    kind: str | None = None,
    limit: int = 50,
) -> list[RunListing]:
    """Newest runs first, in one experiment or in all of them."""
    target = _target(target)
    if kind and not re.fullmatch(r"[A-Za-z_]+", kind):
        raise UnisimError(f"--kind {kind!r}: expected a word such as pipeline, train, evaluate")
    names = V.experiment_names(target)
    ids = [resolve_experiment(target, experiment)[0]] if experiment else None
    if not filter_string:
        runs = V.newest_runs(target, ids, kind=kind, limit=limit)
        return [_listing(r, names) for r in runs]
    parts = [filter_string, f"tags.`{T.TAG_KIND}` = '{kind}'" if kind else None]
    flt = " and ".join(p for p in parts if p)
    exp_ids = ids if ids is not None else list(names)
    if not exp_ids:
        return []
    try:
        runs = T.connect(target).search_runs(
            exp_ids, flt, max_results=limit, order_by=T.NEWEST_FIRST
        )
    except UnisimError as exc:
        raise UnisimError(f"--{exc}") from None
    return [_listing(r, names) for r in runs]


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
    description: str = ""  # the MLflow run description (mlflow.note.content)
    children: list[RunListing] = field(default_factory=list)  # nested runs, oldest first
    omitted_params: int = 0  # params of sections that do not apply (vast.* off Vast.ai)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def applicable_params(run: Any) -> dict[str, str]:
    """The run's params minus sections that do not apply to it: ``vast.*`` unless the run
    (or its pipeline) ran on a Vast.ai instance (older runs logged every section)."""
    on_vast = T.TAG_VAST_INSTANCE in run.data.tags
    return {k: v for k, v in run.data.params.items() if on_vast or not k.startswith("vast.")}


def _local_artifacts(uri: str | None, limit: int) -> list[str] | None:
    """Artifact paths of a run whose artifacts are a local folder (None: ask MLflow)."""
    if not uri or not uri.startswith("file:"):
        return None
    root = Path(unquote(urlsplit(uri).path))
    if not root.is_dir():
        return []
    out = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        out.append(rel + "/" if path.is_dir() else rel)
        if len(out) >= limit:
            break
    return sorted(out)


def show_run(target: T.TrackingTarget | None, run_id: str) -> RunDetails:
    """Everything about one run, its child runs, and its page in the MLflow UI."""
    target = _target(target)
    run = V.get_run(target, run_id)
    info = run.info
    names = V.experiment_names(target)
    params = applicable_params(run)
    kids = V.children(target, run)
    artifacts = _local_artifacts(info.artifact_uri, MAX_ARTIFACTS)
    if artifacts is None:
        artifacts = T.connect(target).artifact_paths(info.run_id, MAX_ARTIFACTS)
    return RunDetails(
        run_id=info.run_id,
        experiment_id=info.experiment_id,
        experiment=names.get(info.experiment_id, info.experiment_id),
        name=info.run_name or "",
        state=info.status,
        started=_dt(info.start_time),
        ended=_dt(info.end_time),
        params=dict(sorted(params.items())),
        metrics=dict(sorted(run.data.metrics.items())),
        tags=dict(sorted(run.data.tags.items())),
        artifacts=artifacts,
        url=T.run_url(target, info.experiment_id, info.run_id),
        description=run.data.tags.get(T.MLFLOW_NOTE_TAG, ""),
        children=[_listing(k, names) for k in kids],
        omitted_params=len(run.data.params) - len(params),
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
    target = _target(target)
    for rid in run_ids:
        if len(rid) != 32 or not set(rid) <= V.RUN_ID_CHARS:
            raise UnisimError(f"run {rid!r}: not a run id (32 hex characters)")
    found = V.runs_by_id(target, run_ids)
    missing = [r for r in run_ids if r not in found]
    if missing:
        raise UnisimError(f"run {missing[0]}: not found in the tracking store")
    runs = [found[r] for r in run_ids]
    param_sets = [applicable_params(r) for r in runs]
    keys = sorted(set().union(*param_sets))
    params = {k: [p.get(k) for p in param_sets] for k in keys}
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
        url=T.compare_url(target, exp_id, list(run_ids)),
        warnings=warnings,
    )


def run_link(target: T.TrackingTarget | None, run_id: str) -> str:
    """The run's page in the MLflow UI (runs table of its experiment, run selected)."""
    target = _target(target)
    run = V.get_run(target, run_id)
    return T.run_url(target, run.info.experiment_id, run.info.run_id)
