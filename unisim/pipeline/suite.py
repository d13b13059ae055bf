"""``run_suite``: every PDE's golden config as child pipelines under one parent run, one table.

    from unisim.pipeline.suite import load_suite, run_suite
    result = run_suite("benchmarks/suite.yaml", overrides=["training.epochs=1"])
    result.rows      # [{"pde", "coefficients", "model", "final_nrmse", "ratio_to_persistence",
                     #   "ratio_to_fno", "wall_s", ...}, ...]
    result.table_md  # the same as a Markdown table (suite.md on the parent run)

The suite file (``benchmarks/suite.yaml``) lists the configs and the baselines::

    name: suite
    experiment: suite                       # every child pipeline goes here
    configs: [configs/train_burgers_golden.yaml, configs/train_advection_golden.yaml, ...]
    fno: [model.name=fno, model.fno.width=32]   # the FNO baseline of each config; [] = none

An entry can carry its own baseline (a tuned FNO, say) instead of the suite's ``fno``::

    configs:
      - configs/train_burgers_golden.yaml
      - {config: configs/train_reaction_diffusion_golden.yaml,
         fno: [model.name=fno, model.fno.modes=24, training.lr=3e-3]}

For each config the suite runs the FNO baseline pipeline first (its row, and the run the
golden model's full evaluation compares with: ``ratio_to_fno``), then the config itself.
Each is a ``unisim run`` pipeline, nested under the suite's parent run
(``unisim.kind=suite``), with ``tracking.experiment`` set to the suite's experiment so every
run of the suite lands there (a config in ``experiments/NAME/`` would keep its folder's
experiment: list ``configs/`` files). ``overrides`` apply to every child
(``--set training.epochs=1`` makes a quick suite). The table goes to ``suite.md`` and
``suite.json`` on the parent run and is returned for the terminal. Numbers are test-split
figures of one seed each; ``gates`` is the full evaluation's verdict. A config with
``data.heldout_coefficients`` also gets its model evaluated on the held-out split, told the
true coefficients and then the nearest training ones (``held-out: true / nearest``; the
model generalises across coefficients when the first is lower).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from unisim.errors import ConfigError

log = logging.getLogger(__name__)

COLUMNS = (
    ("pde", "PDE"),
    ("coefficients", "coefficients"),
    ("model", "model"),
    ("final_nrmse", "rollout nRMSE"),
    ("ratio_to_persistence", "/ persistence"),
    ("ratio_to_fno", "/ FNO"),
    ("wall_s", "wall time (s)"),
    ("gates", "gates"),
    ("heldout", "held-out: true / nearest"),
)


class SuiteEntry(BaseModel):
    """One config of the suite and the overrides that make its FNO baseline."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    config: str
    fno: tuple[str, ...]  # the suite's ``fno`` unless the entry names its own (a tuned one)


class SuiteConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "suite"
    experiment: str = "suite"
    configs: tuple[SuiteEntry, ...] = Field(min_length=1)
    fno: tuple[str, ...] = ("model.name=fno", "model.fno.width=32")  # () = no FNO rows

    @model_validator(mode="before")
    @classmethod
    def _entries(cls, raw: Any) -> Any:
        """A bare path, or an entry without ``fno``, gets the suite's FNO baseline."""
        if not isinstance(raw, dict) or not isinstance(raw.get("configs"), list):
            return raw
        fno = raw.get("fno", cls.model_fields["fno"].default)
        configs = [{"config": c} if isinstance(c, str) else c for c in raw["configs"]]
        return {
            **raw,
            "configs": [{"fno": fno, **c} if isinstance(c, dict) else c for c in configs],
        }


def load_suite(path: str | Path) -> SuiteConfig:
    """The suite file, its config paths resolved against the working directory; one-line
    ConfigError for a missing file, a bad key or a config that does not exist."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: file not found")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        suite = SuiteConfig.model_validate(raw)
    except (yaml.YAMLError, ValueError) as exc:
        first = exc.errors()[0] if hasattr(exc, "errors") else None
        where = ".".join(str(p) for p in first["loc"]) if first else ""
        msg = first["msg"] if first else str(exc).splitlines()[0]
        raise ConfigError(f"{path}: {where}: {msg}" if where else f"{path}: {msg}") from None
    for entry in suite.configs:
        if not Path(entry.config).is_file():
            raise ConfigError(f"{path}: configs: {entry.config}: file not found")
    return suite


@dataclass
class SuiteResult:
    run_id: str
    experiment_id: str
    rows: list[dict[str, Any]]
    table_md: str
    exit_code: int = 0
    links: dict[str, str] = field(default_factory=dict)


def _coefficients(cfg: Any) -> str:
    from unisim.config.protocol import _draw_text

    spec = cfg.data.equation
    return " ".join(
        f"{c.name}={_draw_text(getattr(spec, c.name))}" for c in cfg.data.pde.coefficients
    )


def _row(cfg: Any, result: Any, seconds: float) -> dict[str, Any]:
    full = next((s for s in result.stages if s.name == "eval-full"), None)
    metrics = full.metrics if full is not None else {}
    return {
        "pde": cfg.data.pde.name,
        "coefficients": _coefficients(cfg),
        "model": cfg.model.name,
        "final_nrmse": result.final_nrmse,
        "ratio_to_persistence": metrics.get("ratio_to_persistence"),
        "ratio_to_fno": metrics.get("ratio_to_fno"),
        "wall_s": round(seconds, 1),
        "gates": _gates_cell(result),
        "status": result.status
        if result.failed_stage is None
        else f"failed: {result.failed_stage}",
        "run_id": result.run_id,
    }


def _gates_cell(result: Any) -> str | None:
    """The full evaluation's gates: ``passed``, ``failed: metric, ...``, or None (none ran)."""
    rows = [g for g in result.gates if g.get("stage") == "full"]
    if not rows:
        return None
    failed = sorted({g["metric"] for g in rows if not g.get("passed")})
    return "failed: " + ", ".join(failed) if failed else "passed"


def _heldout(cfg: Any, result: Any, target: Any, parent_run_id: str) -> dict[str, Any]:
    """A config with ``data.heldout_coefficients``: its trained model on the held-out split
    (coefficients inside the training range that no training trajectory has), told the true
    coefficients, then the nearest training ones. Generalising means true < nearest."""
    from unisim.evaluation.api import run_evaluation

    train = next((s for s in result.stages if s.name == "train" and s.run_id), None)
    if not cfg.data.heldout_coefficients or train is None or result.failed_stage is not None:
        return {}
    scores = {}
    for condition_on in ("true", "nearest-train"):
        ev = run_evaluation(
            train.run_id,
            split="heldout",
            target=target,
            parent_run_id=parent_run_id,
            plots=False,
            condition_on=condition_on,
        )
        scores[condition_on] = ev.metrics.get("final_nrmse")
    true, nearest = scores["true"], scores["nearest-train"]
    return {
        "heldout_true": true,
        "heldout_nearest": nearest,
        "heldout": f"{_fmt(true)} / {_fmt(nearest)}",
    }


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def table_markdown(rows: list[dict[str, Any]]) -> str:
    head = "| " + " | ".join(title for _, title in COLUMNS) + " |"
    rule = "|" + "|".join("---" for _ in COLUMNS) + "|"
    body = ["| " + " | ".join(_fmt(r.get(k)) for k, _ in COLUMNS) + " |" for r in rows]
    return "\n".join([head, rule, *body]) + "\n"


def run_suite(
    path: str | Path,
    overrides: list[str] | None = None,
    *,
    target: Any = None,
    on_event: Any = None,
) -> SuiteResult:
    """Run the suite; bad input (the suite file, any config) fails before any run opens."""
    from unisim import tracking as T
    from unisim.config import load_config
    from unisim.pipeline.run import run_pipeline

    suite = load_suite(path)
    overrides = list(overrides or [])
    # every child run (pipeline, data, train, evaluate) goes to the suite's experiment:
    # MLflow nests runs within one experiment, and the FNO baseline is looked up there
    overrides = [*overrides, f"tracking.experiment={suite.experiment}"]
    plan: list[tuple[str, list[str]]] = []
    for entry in suite.configs:
        if entry.fno:
            plan.append((entry.config, [*overrides, *entry.fno]))
        plan.append((entry.config, overrides))
    cfgs = [load_config(config, sets) for config, sets in plan]  # every check up front
    store = T.connect(target or T.resolve_tracking())
    rows: list[dict[str, Any]] = []
    exit_code = 0
    with T.start_run(
        kind=T.Kind.SUITE,
        experiment=suite.experiment,
        target=store.target,
        run_name=suite.name,
        tags={T.TAG_SUITE_FILE: str(path)},
    ) as parent:
        for (config, sets), cfg in zip(plan, cfgs, strict=True):
            log.info("suite: %s %s", config, " ".join(sets))
            t0 = time.perf_counter()
            result = run_pipeline(
                config,
                sets,
                target=store.target,
                on_event=on_event,
                parent_run_id=parent.run_id,
                force_full_eval=True,  # the table holds test figures, gates or not
            )
            row = _row(cfg, result, time.perf_counter() - t0)
            row.update(_heldout(cfg, result, store.target, result.run_id))
            rows.append(row)
            if result.failed_stage is not None:
                exit_code = max(exit_code, result.exit_code)
        table = table_markdown(rows)
        parent.log_text(table, "suite.md")
        parent.log_dict({"rows": rows, "overrides": overrides}, "suite.json")
        parent.metrics.log(
            {
                f"suite/{r['pde']}/{r['model']}/final_nrmse": r["final_nrmse"]
                for r in rows
                if r["final_nrmse"] is not None
            }
        )
        if exit_code:
            parent.set_status(T.Status.FAILED.value, reason="a child pipeline failed")
        url = T.run_url(store.target, parent.experiment_id, parent.run_id)
    return SuiteResult(parent.run_id, parent.experiment_id, rows, table, exit_code, {"suite": url})
