"""The end of a sweep: the trials table, the best trial, plots, and the best config's folder.

    rows = trial_rows(study)                  # one dict per trial (the leaderboard)
    finish_sweep(study, req, result, store, run)   # summary on the sweep run + folder
    show = load_leaderboard("burgers-golden-latent", storage_url)  # `unisim sweep show`

Plots (optuna.visualization.matplotlib): optimization history (one finished trial
suffices), parameter importances and parallel coordinates (two completed trials at
least; skipped with a log line otherwise).
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def trial_rows(study: Any) -> list[dict[str, Any]]:
    """Every trial, best first among the completed, then pruned, running, failed."""
    from unisim.sweep.storage import ATTR_REASON, ATTR_RUN

    order = {"COMPLETE": 0, "PRUNED": 1, "RUNNING": 2, "WAITING": 3, "FAIL": 4}
    rows = []
    for t in study.get_trials(deepcopy=False):
        value = t.value
        if value is None and t.intermediate_values:  # a pruned trial: its last report
            value = t.intermediate_values[max(t.intermediate_values)]
        seconds = (
            (t.datetime_complete - t.datetime_start).total_seconds()
            if t.datetime_complete and t.datetime_start
            else None
        )
        rows.append(
            {
                "number": t.number,
                "state": t.state.name,
                "value": value,
                "epochs": len(t.intermediate_values),
                "seconds": round(seconds, 1) if seconds is not None else None,
                "run_id": t.user_attrs.get(ATTR_RUN),
                "params": dict(t.params),
                "reason": t.user_attrs.get(ATTR_REASON),
            }
        )
    rows.sort(
        key=lambda r: (
            order.get(r["state"], 5),
            r["value"] if r["value"] is not None else float("inf"),
            r["number"],
        )
    )
    return rows


def best_trial(study: Any) -> dict[str, Any] | None:
    from optuna.trial import TrialState

    from unisim.sweep.storage import ATTR_RUN

    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not done:
        return None
    t = min(done, key=lambda t: (t.value, t.number))
    return {
        "number": t.number,
        "value": t.value,
        "params": dict(t.params),
        "run_id": t.user_attrs.get(ATTR_RUN),
    }


def make_plots(study: Any, folder: Path) -> list[Path]:
    """PNG plots of the study; those that need more trials than there are are skipped."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from optuna.trial import TrialState
    from optuna.visualization import matplotlib as vis

    complete = len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))
    plots = [("optimization_history", vis.plot_optimization_history, 1)]
    plots += [("param_importances", vis.plot_param_importances, 2)]
    plots += [("parallel_coordinate", vis.plot_parallel_coordinate, 2)]
    out = []
    for name, fn, need in plots:
        if complete < need:
            log.info("plot %s skipped: %d completed trial(s), needs %d", name, complete, need)
            continue
        try:
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # optuna's "experimental" warnings
                ax = fn(study)
            fig = ax.figure if hasattr(ax, "figure") else ax.flat[0].figure
            path = folder / f"{name}.png"
            fig.savefig(path, dpi=100, bbox_inches="tight")
            plt.close(fig)
            out.append(path)
        except Exception as exc:  # e.g. importances of a single-valued parameter
            log.info("plot %s skipped: %s", name, exc)
    return out


NOTES = """\
# {name}

Written by `unisim sweep` on {today}: the best trial of Optuna study `{study}`.

- base config: `{config}` (overrides: {overrides})
- search space: `{space}`
- best trial: #{number}, {metric} = {value:.6g} (validation split; MLflow run `{run_id}`)
- sweep run: `{sweep_run}` ({finished} finished trials in the study)
- best params:
{params}

The value above was measured on the validation split during the search; the test
split was not read. Run it with `unisim run experiments/{name}/config.yaml` for the
test-split figures and gates; `unisim sweep show {study}` lists every trial.{budget}
"""

BUDGET_NOTE = """

config.yaml keeps the search's training budget ({keys}): every trial trained under it.
For the final fit, override it with `--set` or edit config.yaml."""


def write_best_folder(req: Any, result: Any, best: dict[str, Any]) -> str:
    """``experiments/DATE-STUDY-sweep-best/`` for the best trial (kept if it exists already)."""
    from unisim.config import load_config, to_yaml
    from unisim.experiments.folders import EXPERIMENTS_DIR, dated_name, new_experiment
    from unisim.sweep.space import overrides_of

    slug = "".join(c if c.isalnum() or c in "-_.+" else "-" for c in result.study).strip("-.")
    base = f"{slug or 'study'}-sweep-best"
    for meta_path in sorted((Path.cwd() / EXPERIMENTS_DIR).glob(f"*-{base}*/metadata.json")):
        try:
            sweep = json.loads(meta_path.read_text(encoding="utf-8")).get("sweep", {})
        except (OSError, ValueError, AttributeError):
            continue
        if sweep.get("study") == result.study and sweep.get("trial") == best["number"]:
            return f"{EXPERIMENTS_DIR}/{meta_path.parent.name}"  # written by an earlier run
    name = dated_name(base)
    for i in range(2, 100):  # a better trial since: a new folder, the old one kept
        if not (Path.cwd() / EXPERIMENTS_DIR / name).exists():
            break
        name = dated_name(f"{base}-{i}")
    cfg = load_config(req.config, [*req.overrides, *overrides_of(best["params"])])
    params = "\n".join(f"  - `{k}` = {v!r}" for k, v in best["params"].items())
    budget_keys = ("training.max_time_s=", "training.epochs=")
    budgets = [o for o in req.overrides if o.replace(" ", "").startswith(budget_keys)]
    notes = NOTES.format(
        name=name,
        today=Path(name).name[:10],
        study=result.study,
        config=req.config,
        overrides=", ".join(f"`{o}`" for o in req.overrides) or "none",
        space=req.space,
        number=best["number"],
        metric=req.metric,
        value=best["value"],
        run_id=best.get("run_id"),
        sweep_run=result.sweep_run_id,
        finished=result.counts.finished,
        params=params,
        budget=BUDGET_NOTE.format(keys=", ".join(f"`{o}`" for o in budgets)) if budgets else "",
    )
    sweep_meta = {
        "study": result.study,
        "storage": _redact(result.storage),
        "trial": best["number"],
        "value": best["value"],
        "metric": req.metric,
        "params": best["params"],
        "trial_run": best.get("run_id"),
        "sweep_run": result.sweep_run_id,
        "space": req.space,
    }
    made = new_experiment(
        name,
        from_config=req.config,
        config_text=to_yaml(cfg),
        notes=notes,
        metadata={"sweep": sweep_meta},
    )
    return f"{EXPERIMENTS_DIR}/{made.name}"


def _redact(url: str) -> str:
    from unisim.tracking import redact_uri

    return redact_uri(url)


def finish_sweep(study: Any, req: Any, result: Any, store: Any, run: Any) -> None:
    """Summary on the sweep run; the best config's experiment folder."""
    from unisim.tracking import TAG_SWEEP_BEST_DIR
    from unisim.tracking.sweeps import summarise_sweep

    rows = trial_rows(study)
    best = best_trial(study)
    result.best = best
    with tempfile.TemporaryDirectory() as tmp:
        plots = make_plots(study, Path(tmp))
        summarise_sweep(
            store, run.run_id, rows=rows, best=best, plots=plots, finished=result.counts.finished
        )
    if best is not None:
        result.best_dir = write_best_folder(req, result, best)
        run.set_tags({TAG_SWEEP_BEST_DIR: result.best_dir})


def load_leaderboard(name: str, url: str) -> list[dict[str, Any]]:
    """The trials of study ``name`` (``unisim sweep show``); one-line error if unknown."""
    import optuna

    from unisim.errors import UnisimError
    from unisim.sweep.storage import open_storage

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study = optuna.load_study(study_name=name, storage=open_storage(url))
    except KeyError:
        raise UnisimError(f"no study {name!r} in {_redact(url)}") from None
    return trial_rows(study)
