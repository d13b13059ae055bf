"""The leaderboard: every gates-passed pipeline run across experiments, ranked by final_nrmse.

    df = build_leaderboard(store, top=10)       # pandas.DataFrame
    paths = write_leaderboard(target)           # reports/leaderboard.csv and .html
    df, paths = export_leaderboard(target, top=5, csv="lb.csv")

MLflow is the only source: the CSV and HTML files are exports, rewritten whole
(atomically) from the store each time, so they cannot drift from it or lose rows.
Queries: one search over pipeline runs, one over their train runs (by id), one
over registry versions and one over registered models, whatever the run count.
"""

from __future__ import annotations

import html as html_lib
import math
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from unisim import fsutil
from unisim import tracking as T
from unisim.tracking import TrackingTarget
from unisim.tracking.registry import aliases_of

if TYPE_CHECKING:
    import pandas as pd

    from unisim.tracking.entities import Run

COLUMNS = [
    "protocol",
    "rank",
    "experiment",
    "run_id",
    "final_nrmse",
    "final_nrmse_low",
    "final_nrmse_high",
    "n_seeds",
    "one_step_nrmse",
    "gates",
    "arch",
    "latent_dim",
    "latent_tokens",
    "n_params",
    "train_time_s",
    "wall_clock_s",
    "cost_usd",
    "model",
    "model_version",
    "alias",
    "date",
    "protocol_summary",
]
DEFAULT_CSV = "reports/leaderboard.csv"
DEFAULT_HTML = "reports/leaderboard.html"


def _train_runs(store: T.Store, exp_ids: list[str], runs: list[Run]) -> dict[str, Run]:
    """Pipeline run id -> its train run (by the ``unisim.train_run`` tag, else by parent)."""
    wanted = {r.info.run_id: r.data.tags.get(T.TAG_TRAIN_RUN) for r in runs}
    by_id = store.runs_by_id(exp_ids, [t for t in wanted.values() if t])
    out = {pid: by_id[tid] for pid, tid in wanted.items() if tid in by_id}
    if len(out) < len(wanted):  # older pipeline runs: find the child by its parent tag
        for run in store.runs_of_kind(exp_ids, T.Kind.TRAIN):
            parent = run.data.tags.get(T.MLFLOW_PARENT_TAG)
            if parent in wanted and parent not in out:
                out[parent] = run
    return out


def _registry(store: T.Store) -> dict[str, tuple[str, str, str]]:
    """Run id -> (model name, version, aliases) of the version registered from it."""
    aliases = {m.name: aliases_of(m) for m in store.registered_models()}
    out: dict[str, tuple[str, str, str]] = {}
    for mv in store.model_versions():
        run_id = mv.tags.get(T.VTAG_RUN) or mv.run_id
        version = str(mv.version)
        names = ",".join(sorted(a for a, v in aliases.get(mv.name, {}).items() if v == version))
        current = out.get(run_id)
        # A run registered twice (two model names): keep the one with an alias, then the newest.
        if current is None or (names, int(version)) > (current[2], int(current[1])):
            out[run_id] = (mv.name, version, names)
    return out


def _value(runs: list[Run | None], key: str, kind: str = "metrics") -> Any:
    for run in runs:
        if run is not None:
            values = getattr(run.data, kind)
            if key in values:
                return values[key]
    return None


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def build_leaderboard(
    store: T.Store,
    top: int | None = None,
    *,
    include_running: bool = False,
    protocol: str | None = None,
) -> pd.DataFrame:
    """Gates-passed pipeline runs of every active experiment, ranked by final_nrmse within
    their protocol (``unisim.protocol``: numbers under different protocols are not ranked
    against each other); groups with more runs first, ``top`` rows per group.

    ``protocol`` keeps one group (a hash prefix is enough); ``include_running`` also lists
    RUNNING pipeline runs (the pipeline updating the board before its own run closes).
    """
    import pandas as pd

    names = {e.experiment_id: e.name for e in store.active_experiments()}
    runs = store.gated_pipeline_runs(list(names), running=include_running)
    keep = ("FINISHED", "RUNNING") if include_running else ("FINISHED",)
    runs = [
        r
        for r in runs
        if r.info.status in keep and _number(r.data.metrics.get(T.FINAL_NRMSE)) is not None
    ]
    trains = _train_runs(store, list(names), runs) if runs else {}
    registry = _registry(store) if runs else {}
    rows = []
    for run in runs:
        rid = run.info.run_id
        train = trains.get(rid)
        both = [run, train]
        model, version, alias = (
            registry.get(rid)
            or (registry.get(train.info.run_id) if train else None)
            or (None, None, None)
        )
        n_params = _value([train, run], "n_params")
        if n_params is None:
            n_params = _value([train, run], "n_params", "params")
        start = datetime.fromtimestamp(run.info.start_time / 1000, tz=timezone.utc)
        rows.append(
            {
                "protocol": run.data.tags.get(T.TAG_PROTOCOL) or "unknown",
                "experiment": names.get(run.info.experiment_id, run.info.experiment_id),
                "run_id": rid,
                "final_nrmse": _number(run.data.metrics[T.FINAL_NRMSE]),
                "final_nrmse_low": _number(run.data.metrics.get(T.FINAL_NRMSE_LOW)),
                "final_nrmse_high": _number(run.data.metrics.get(T.FINAL_NRMSE_HIGH)),
                "n_seeds": _number(run.data.metrics.get(T.N_SEEDS)),
                "one_step_nrmse": _number(_value(both, T.ONE_STEP_NRMSE)),
                "gates": "passed",
                "arch": _value(both, "model.name", "params"),
                "latent_dim": _number(_value(both, "model.latent.dim", "params")),
                "latent_tokens": _number(_value(both, "model.latent.tokens", "params")),
                "n_params": _number(n_params),
                "train_time_s": _number(_value([train], "wall_clock_s")),
                "wall_clock_s": _number(run.data.metrics.get("wall_clock_s")),
                "cost_usd": _number(_value(both, "cost_usd")),
                "model": model,
                "model_version": version,
                "alias": alias or None,
                "date": start.strftime("%Y-%m-%d %H:%M"),
                "protocol_summary": run.data.tags.get(T.TAG_PROTOCOL_SUMMARY),
                "_start": run.info.start_time,
            }
        )
    df = pd.DataFrame(rows, columns=[c for c in COLUMNS if c != "rank"] + ["_start"])
    if protocol:
        df = df[df["protocol"].str.startswith(protocol)]
    size = df.groupby("protocol")["run_id"].transform("count") if len(df) else df["protocol"]
    df = df.assign(_size=size).sort_values(
        ["_size", "protocol", "final_nrmse", "_start"],
        ascending=[False, True, True, True],
        kind="stable",
    )
    df = df.drop(columns=["_start", "_size"])
    for col in ("latent_dim", "latent_tokens", "n_params", "n_seeds"):
        df[col] = df[col].astype("Int64")
    df.insert(1, "rank", df.groupby("protocol").cumcount() + 1 if len(df) else [])
    df = df.reset_index(drop=True)
    return df[df["rank"] <= top].reset_index(drop=True) if top else df


def records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts (missing values -> None)."""
    import json

    return json.loads(df.to_json(orient="records"))


def _html_page(df: pd.DataFrame, target: TrackingTarget) -> str:
    table = df.to_html(index=False, na_rep="", float_format=lambda x: f"{x:.6g}", border=0)
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    source = html_lib.escape(target.ui_base())
    return (
        "<!doctype html>\n<html><head><meta charset='utf-8'><title>unisim leaderboard</title>\n"
        "<style>body{font-family:sans-serif}table{border-collapse:collapse}"
        "td,th{padding:4px 8px;border-bottom:1px solid #ddd;text-align:right}</style>\n"
        f"</head><body><h1>unisim leaderboard</h1>\n<p>{len(df)} gates-passed pipeline runs, "
        f"exported from MLflow ({source}) at {when}; lower final_nrmse is better.</p>\n"
        f"{table}\n</body></html>\n"
    )


def export_leaderboard(
    target: TrackingTarget,
    *,
    top: int | None = None,
    csv: str | Path | None = None,
    html: str | Path | None = None,
    store: T.Store | None = None,
    include_running: bool = False,
    protocol: str | None = None,
) -> tuple[pd.DataFrame, list[Path]]:
    """Build the leaderboard from MLflow; rewrite the given CSV / HTML exports atomically."""
    df = build_leaderboard(
        store or T.connect(target), top=top, include_running=include_running, protocol=protocol
    )
    written = []
    if csv:
        with fsutil.atomic_path(csv, suffix=".csv") as tmp:
            df.to_csv(tmp, index=False)
        written.append(Path(csv))
    if html:
        with fsutil.atomic_path(html, suffix=".html") as tmp:
            tmp.write_text(_html_page(df, target), encoding="utf-8")
        written.append(Path(html))
    return df, written


def write_leaderboard(
    target: TrackingTarget,
    csv: str | Path | None = DEFAULT_CSV,
    html: str | Path | None = DEFAULT_HTML,
    *,
    top: int | None = None,
    store: T.Store | None = None,
    include_running: bool = False,
) -> list[Path]:
    """Rewrite the leaderboard exports (default ``reports/leaderboard.{csv,html}``); their paths."""
    return export_leaderboard(
        target, top=top, csv=csv, html=html, store=store, include_running=include_running
    )[1]
