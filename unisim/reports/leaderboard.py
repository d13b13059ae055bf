"""The leaderboard: every gates-passed pipeline run across experiments, ranked by final_nrmse.

    rows = leaderboard_rows(target, top=10)         # list of dicts (COLUMNS), no pandas
    df = build_leaderboard(store, top=10)           # the same as a pandas.DataFrame
    paths = write_leaderboard(target)               # this store's default exports
    rows, paths = export_leaderboard(target, top=5, csv="lb.csv")

MLflow is the only source: the CSV and HTML files are exports, rewritten whole
(atomically) from the store each time, so they cannot drift from it or lose rows.
Reads go through ``unisim.tracking.views`` (one read-only SQL pass on database stores,
the API on servers). Default exports are per store (``default_exports``): the store
unisim resolves to here with no flag writes ``reports/leaderboard.csv`` / ``.html``;
any other store (``--profile team``, ``--tracking-uri``) writes
``reports/leaderboard-<store slug>.csv`` / ``.html``, so a run against the team server
never overwrites the local store's board. The HTML links every run and experiment to
the MLflow UI, leaves missing values blank, and marks the champion.
"""

from __future__ import annotations

import csv as csv_lib
import hashlib
import html as html_lib
import math
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from unisim import fsutil
from unisim import tracking as T
from unisim.display import num
from unisim.tracking import TrackingTarget
from unisim.tracking import views as V

if TYPE_CHECKING:
    import pandas as pd

COLUMNS = [
    "protocol", "rank", "experiment", "run_id", "final_nrmse", "final_nrmse_low",
    "final_nrmse_high", "n_seeds", "one_step_nrmse", "gates", "arch", "latent_dim",
    "latent_tokens", "n_params", "train_time_s", "wall_clock_s", "cost_usd", "model",
    "model_version", "alias", "date", "protocol_summary",
]  # fmt: skip
INT_COLUMNS = ("latent_dim", "latent_tokens", "n_params", "n_seeds")
DEFAULT_CSV = "reports/leaderboard.csv"
DEFAULT_HTML = "reports/leaderboard.html"
CHAMPION_MARK = "★"
PARAMS = ("model.name", "model.latent.dim", "model.latent.tokens", "n_params")  # read of ~100
TAGS = (T.TAG_PROTOCOL, T.TAG_PROTOCOL_SUMMARY, T.TAG_TRAIN_RUN, T.MLFLOW_PARENT_TAG)


def store_slug(target: TrackingTarget) -> str | None:
    """None for the store unisim resolves to here without flags; else a file-name-safe slug
    (the profile name, a server's host and port, or a SQLite folder plus a short hash)."""
    try:
        default = T.resolve_tracking()
    except Exception:  # a broken profile setting: no store is the default one
        default = None
    if default is not None and default.uri == target.uri:
        return None
    if target.source.startswith("profile:"):
        raw = target.source.split(":", 1)[1]
    elif target.uri.startswith("http"):
        parts = urlsplit(target.uri)
        raw = f"{parts.hostname}-{parts.port}" if parts.port else str(parts.hostname)
    elif target.sqlite_path is not None:
        digest = hashlib.sha256(str(target.sqlite_path).encode()).hexdigest()[:6]
        raw = f"{target.sqlite_path.parent.name}-{digest}"
    else:
        raw = hashlib.sha256(T.redact_uri(target.uri).encode()).hexdigest()[:8]
    return re.sub(r"[^A-Za-z0-9._-]+", "-", raw).strip("-") or "store"


def default_exports(target: TrackingTarget) -> tuple[Path, Path]:
    """This store's default CSV and HTML exports (see ``store_slug``)."""
    slug = store_slug(target)
    if slug is None:
        return Path(DEFAULT_CSV), Path(DEFAULT_HTML)
    return Path(f"reports/leaderboard-{slug}.csv"), Path(f"reports/leaderboard-{slug}.html")


def _train_runs(target: TrackingTarget, runs: list[Any]) -> dict[str, Any]:
    """Pipeline run id -> its train run (by the ``unisim.train_run`` tag, else by parent)."""
    wanted = {r.info.run_id: r.data.tags.get(T.TAG_TRAIN_RUN) for r in runs}
    by_id = V.runs_by_id(target, [t for t in wanted.values() if t], PARAMS, TAGS)
    out = {pid: by_id[tid] for pid, tid in wanted.items() if tid in by_id}
    if len(out) < len(wanted):  # older pipeline runs: find the child by its parent tag
        for run in V.runs_of_kind(target, T.Kind.TRAIN, PARAMS, TAGS):
            parent = run.data.tags.get(T.MLFLOW_PARENT_TAG)
            if parent in wanted and parent not in out:
                out[parent] = run
    return out


def _registry(target: TrackingTarget) -> dict[str, tuple[str, str, str]]:
    """Run id -> (model name, version, aliases) of the version registered from it."""
    reg = V.registry(target)
    out: dict[str, tuple[str, str, str]] = {}
    for mv in reg.versions:
        run_id = mv.tags.get(T.VTAG_RUN) or mv.run_id
        aliases = reg.models[mv.name].aliases if mv.name in reg.models else {}
        names = ",".join(sorted(a for a, v in aliases.items() if v == mv.version))
        current = out.get(run_id)
        # A run registered twice (two model names): keep the one with an alias, then the newest.
        if current is None or (names, int(mv.version)) > (current[2], int(current[1])):
            out[run_id] = (mv.name, mv.version, names)
    return out


def _value(runs: list[Any], key: str, kind: str = "metrics") -> Any:
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


def _int(value: Any) -> int | None:
    number = _number(value)
    return int(number) if number is not None else None


def _row(run: Any, train: Any, names: dict[str, str], reg: tuple) -> dict[str, Any]:
    both = [run, train]
    model, version, alias = reg
    n_params = _value([train, run], "n_params")
    if n_params is None:
        n_params = _value([train, run], "n_params", "params")
    start = datetime.fromtimestamp(run.info.start_time / 1000, tz=timezone.utc)
    m = run.data.metrics
    return {
        "protocol": run.data.tags.get(T.TAG_PROTOCOL) or "unknown",
        "experiment": names.get(run.info.experiment_id, run.info.experiment_id),
        "run_id": run.info.run_id,
        "final_nrmse": _number(m[T.FINAL_NRMSE]),
        "final_nrmse_low": _number(m.get(T.FINAL_NRMSE_LOW)),
        "final_nrmse_high": _number(m.get(T.FINAL_NRMSE_HIGH)),
        "n_seeds": _int(m.get(T.N_SEEDS)),
        "one_step_nrmse": _number(_value(both, T.ONE_STEP_NRMSE)),
        "gates": "passed",
        "arch": _value(both, "model.name", "params"),
        "latent_dim": _int(_value(both, "model.latent.dim", "params")),
        "latent_tokens": _int(_value(both, "model.latent.tokens", "params")),
        "n_params": _int(n_params),
        "train_time_s": _number(_value([train], T.WALL_CLOCK_S)),
        "wall_clock_s": _number(m.get(T.WALL_CLOCK_S)),
        "cost_usd": _number(_value(both, T.COST_USD)),
        "model": model,
        "model_version": version,
        "alias": alias or None,
        "date": start.strftime("%Y-%m-%d %H:%M"),
        "protocol_summary": run.data.tags.get(T.TAG_PROTOCOL_SUMMARY),
        "_start": run.info.start_time,
        "_experiment_id": run.info.experiment_id,
    }


def leaderboard_rows(
    target: TrackingTarget,
    top: int | None = None,
    *,
    include_running: bool = False,
    protocol: str | None = None,
    with_ids: bool = False,
) -> list[dict[str, Any]]:
    """Gates-passed pipeline runs of every active experiment, ranked by final_nrmse within
    their protocol (``unisim.protocol``: numbers under different protocols are not ranked
    against each other); groups with more runs first, ``top`` rows per group.

    ``protocol`` keeps one group (a hash prefix is enough); ``include_running`` also lists
    RUNNING pipeline runs (the pipeline updating the board before its own run closes);
    ``with_ids`` keeps the experiment id of each row (``_experiment_id``, for links).
    """
    runs = [
        r
        for r in V.gated_pipeline_runs(
            target, running=include_running, param_keys=PARAMS, tag_keys=TAGS
        )
        if _number(r.data.metrics.get(T.FINAL_NRMSE)) is not None
    ]
    if not runs:
        return []
    names = V.experiment_names(target)
    trains = _train_runs(target, runs)
    registry = _registry(target)
    rows = []
    for run in runs:
        rid, train = run.info.run_id, trains.get(run.info.run_id)
        reg = (
            registry.get(rid)
            or (registry.get(train.info.run_id) if train else None)
            or (None, None, None)
        )
        rows.append(_row(run, train, names, reg))
    if protocol:
        rows = [r for r in rows if r["protocol"].startswith(protocol)]
    sizes: dict[str, int] = {}
    for r in rows:
        sizes[r["protocol"]] = sizes.get(r["protocol"], 0) + 1
    rows.sort(key=lambda r: (-sizes[r["protocol"]], r["protocol"], r["final_nrmse"], r["_start"]))
    ranks: dict[str, int] = {}
    out = []
    for r in rows:
        ranks[r["protocol"]] = ranks.get(r["protocol"], 0) + 1
        if top and ranks[r["protocol"]] > top:
            continue
        ordered = {c: (ranks[r["protocol"]] if c == "rank" else r[c]) for c in COLUMNS}
        if with_ids:
            ordered["_experiment_id"] = r["_experiment_id"]
        out.append(ordered)
    return out


def build_leaderboard(
    store: T.Store,
    top: int | None = None,
    *,
    include_running: bool = False,
    protocol: str | None = None,
) -> pd.DataFrame:
    """``leaderboard_rows`` as a DataFrame (integer columns as pandas' nullable Int64)."""
    import pandas as pd

    rows = leaderboard_rows(store.target, top, include_running=include_running, protocol=protocol)
    df = pd.DataFrame(rows, columns=COLUMNS)
    for col in INT_COLUMNS:
        df[col] = df[col].astype("Int64")
    return df


def records(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts (missing values None)."""
    return [{c: r.get(c) for c in COLUMNS} for r in rows]


def _csv_text(rows: list[dict[str, Any]]) -> str:
    import io

    buf = io.StringIO()
    writer = csv_lib.writer(buf, lineterminator="\n")
    writer.writerow(COLUMNS)
    for r in rows:
        writer.writerow(["" if r.get(c) is None else r[c] for c in COLUMNS])
    return buf.getvalue()


def _html_cell(target: TrackingTarget, row: dict[str, Any], col: str) -> str:
    value = row.get(col)
    if value is None or value == "":
        return ""  # a blank, never "None" or "nan"
    esc = html_lib.escape
    if col == "run_id" and row.get("_experiment_id"):
        url = T.run_url(target, row["_experiment_id"], str(value))
        return f"<a href='{esc(url)}'>{esc(str(value)[:8])}</a>"
    if col == "experiment" and row.get("_experiment_id"):
        return f"<a href='{esc(T.experiment_url(target, row['_experiment_id']))}'>{esc(value)}</a>"
    if col == "alias" and T.ALIAS_CHAMPION in str(value).split(","):
        return f"{CHAMPION_MARK} {esc(str(value))}"
    return esc(num(value) if isinstance(value, float) else str(value))


def _html_page(rows: list[dict[str, Any]], target: TrackingTarget) -> str:
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    source = html_lib.escape(T.ui_command(target) if target.is_local else target.ui_base())
    head = "".join(f"<th>{html_lib.escape(c)}</th>" for c in COLUMNS)
    body = []
    for r in rows:
        champion = T.ALIAS_CHAMPION in str(r.get("alias") or "").split(",")
        cls = " class='champion'" if champion else ""
        cells = "".join(f"<td>{_html_cell(target, r, c)}</td>" for c in COLUMNS)
        body.append(f"<tr{cls}>{cells}</tr>")
    return (
        "<!doctype html>\n<html><head><meta charset='utf-8'><title>unisim leaderboard</title>\n"
        "<style>body{font-family:sans-serif}table{border-collapse:collapse}"
        "td,th{padding:4px 8px;border-bottom:1px solid #ddd;text-align:right}"
        "tr.champion{background:#fff6d5;font-weight:bold}</style>\n"
        f"</head><body><h1>unisim leaderboard</h1>\n<p>{len(rows)} gates-passed pipeline "
        f"run{'' if len(rows) == 1 else 's'}, exported from MLflow at {when} (UI: {source}); "
        f"lower final_nrmse is better; {CHAMPION_MARK} marks the champion.</p>\n"
        f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n"
        + "\n".join(body)
        + "\n</tbody></table>\n</body></html>\n"
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
) -> tuple[list[dict[str, Any]], list[Path]]:
    """The leaderboard rows from MLflow; rewrite the given CSV / HTML exports atomically."""
    target = store.target if store is not None else target
    rows = leaderboard_rows(
        target, top, include_running=include_running, protocol=protocol, with_ids=True
    )
    written = []
    if csv:
        fsutil.atomic_write_text(csv, _csv_text(rows))
        written.append(Path(csv))
    if html:
        fsutil.atomic_write_text(html, _html_page(rows, target))
        written.append(Path(html))
    return records(rows), written


def write_leaderboard(
    target: TrackingTarget,
    csv: str | Path | None = ...,  # type: ignore[assignment]  # ...: this store's default
    html: str | Path | None = ...,  # type: ignore[assignment]
    *,
    top: int | None = None,
    store: T.Store | None = None,
    include_running: bool = False,
) -> list[Path]:
    """Rewrite the leaderboard exports (default: ``default_exports(target)``; None: not
    that one); their paths."""
    default_csv, default_html = default_exports(target)
    return export_leaderboard(
        target,
        top=top,
        csv=default_csv if csv is ... else csv,
        html=default_html if html is ... else html,
        store=store,
        include_running=include_running,
    )[1]
