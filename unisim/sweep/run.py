"""``run_sweep``: a study, its sweep run, K workers, and the best config as an experiment.

    result = run_sweep(SweepRequest("configs/train_burgers_golden.yaml",
                                    "configs/sweeps/latent.yaml", n_trials=16))
    result.best      # {"number", "value", "params", "run_id"}; result.best_dir

Order of work: the space file, the config, the metric and the storage are checked
before anything is written (``ConfigError``, exit 2). Then the study is created or
loaded (same name, same storage: the same study; its space may not change), the sweep
run (``unisim.kind=sweep``) is opened or resumed, workers run trials until the study
holds N finished trials or the budget is spent, and the sweep run gets the summary
(best trial, best params, trials table, plots). Last, the best config becomes
``experiments/DATE-STUDY-sweep-best/`` (``unisim run`` and ``unisim promote`` take it).

Workers. ``workers=1`` trains in this process; ``workers=K`` starts K processes of
``unisim sweep ... --worker`` with the CPU threads split between them. A worker started
by hand (another machine: ``--worker --study NAME``) joins the study and the sweep run.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from unisim.errors import ConfigError, UnisimError
from unisim.sweep.space import PRUNERS, SearchSpace, load_space

log = logging.getLogger(__name__)

SPACE_ATTR = "space"  # study user attr: the space it was created with


@dataclass
class SweepRequest:
    config: str
    space: str
    overrides: list[str] = field(default_factory=list)
    n_trials: int = 20
    budget_s: float | None = None
    workers: int = 1
    study: str | None = None
    metric: str = "val/nrmse"
    pruner: str | None = None  # median | hyperband | asha | none: beats the space file
    storage: str | None = None
    worker: bool = False  # run trials only: no sweep-run summary, no experiment folder
    sweep_run_id: str | None = None
    tracking_uri: str | None = None
    profile: str | None = None


@dataclass
class SweepResult:
    study: str
    storage: str
    sweep_run_id: str
    experiment: str
    counts: Any
    ran: int
    best: dict[str, Any] | None = None
    best_dir: str | None = None
    url: str | None = None


def default_study_name(cfg: Any, space_path: str) -> str:
    return f"{cfg.name}-{Path(space_path).stem}"


def _sampler(space: SearchSpace) -> Any:
    import optuna

    s = space.sampler
    return optuna.samplers.TPESampler(seed=s.seed, n_startup_trials=s.n_startup_trials)


def _pruner(space: SearchSpace) -> Any:
    import optuna

    p = space.pruner
    if p.name == "median":
        return optuna.pruners.MedianPruner(
            n_startup_trials=p.n_startup_trials, n_warmup_steps=p.n_warmup_steps
        )
    if p.name == "hyperband":
        return optuna.pruners.HyperbandPruner(
            min_resource=p.min_resource, reduction_factor=p.reduction_factor
        )
    if p.name == "asha":  # successive halving in one bracket: every trial on the same rungs
        return optuna.pruners.SuccessiveHalvingPruner(
            min_resource=p.min_resource, reduction_factor=p.reduction_factor
        )
    return optuna.pruners.NopPruner()


def check_request(req: SweepRequest) -> tuple[Any, SearchSpace]:
    """Every check on the inputs (exit 2, nothing written); the config and the space."""
    from unisim.config import load_config

    if not req.metric.startswith("val/"):
        raise ConfigError(
            f"--metric {req.metric}: a sweep optimises a per-epoch validation metric "
            "(val/...), never one of the test split"
        )
    if req.n_trials < 1 or req.workers < 1:
        raise ConfigError("--trials and --workers must be >= 1")
    from unisim.data.store import check_data

    cfg = load_config(req.config, req.overrides)
    space = load_space(req.space, req.config, req.overrides)
    check_data(cfg.data)  # a grid too coarse for the PDE's coefficients: before any store
    if req.pruner:
        if req.pruner not in PRUNERS:
            names = ", ".join(PRUNERS[:-1]) + f" or {PRUNERS[-1]}"
            raise ConfigError(f"--pruner {req.pruner}: must be {names}")
        space = space.model_copy(
            update={"pruner": space.pruner.model_copy(update={"name": req.pruner})}
        )
    return cfg, space


def open_study(name: str, url: str, space: SearchSpace) -> Any:
    """Create or load study ``name``; its space must be the one it was created with."""
    import optuna

    from unisim.sweep.storage import open_storage, quiet

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = open_storage(url)
    with quiet():
        study = optuna.create_study(
            storage=storage,
            study_name=name,
            sampler=_sampler(space),
            pruner=_pruner(space),
            direction="minimize",
            load_if_exists=True,
        )
    mine = space.model_dump(mode="json", include={"params"})
    stored = study.user_attrs.get(SPACE_ATTR)
    if stored is None:
        study.set_user_attr(SPACE_ATTR, mine)
    elif stored != mine:
        raise UnisimError(
            f"study {name!r} was created with another search space; pick a new --study name"
        )
    return study


def run_sweep(req: SweepRequest) -> SweepResult:
    """See the module docstring."""
    from unisim.config import experiment_name
    from unisim.sweep.objective import TrialContext
    from unisim.sweep.storage import STUDY_SWEEP_RUN, storage_url
    from unisim.sweep.worker import count_trials, work
    from unisim.tracking import resolve_tracking

    cfg, space = check_request(req)
    target = resolve_tracking(req.tracking_uri, req.profile)
    url = storage_url(target, req.storage)
    name = req.study or default_study_name(cfg, req.space)
    experiment = experiment_name(req.config, cfg)
    deadline = time.time() + req.budget_s if req.budget_s else None
    study = open_study(name, url, space)

    def context(sweep_run_id: str) -> TrialContext:
        return TrialContext(
            config=req.config,
            overrides=list(req.overrides),
            space=space,
            study_name=name,
            metric=req.metric,
            target=target,
            sweep_run_id=sweep_run_id,
            deadline=deadline,
        )

    if req.worker:
        run_id = req.sweep_run_id or study.user_attrs.get(STUDY_SWEEP_RUN)
        if not run_id:
            raise UnisimError(
                f"study {name!r} has no sweep run yet: start it with `unisim sweep` "
                "(without --worker) first"
            )
        ran = work(study, context(run_id), url=url, n_trials=req.n_trials, deadline=deadline)
        return SweepResult(name, url, run_id, experiment, count_trials(study), ran)

    from unisim.tracking import TAG_STUDY, TAG_SWEEP_METRIC, Kind, connect, start_run
    from unisim.tracking.sweeps import reopen_sweep_run

    store = connect(target)
    existing = study.user_attrs.get(STUDY_SWEEP_RUN)
    if existing and store.find_run(existing) is None:
        existing = None  # the tracking store was reset: a new sweep run
    with start_run(
        kind=Kind.SWEEP,
        experiment=experiment,
        target=target,
        cfg=cfg,
        config_path=req.config,
        resume_run_id=existing,
        run_name=f"sweep {name}",
        tags={TAG_STUDY: name, TAG_SWEEP_METRIC: req.metric},
    ) as run:
        if existing:
            reopen_sweep_run(store, run.run_id)
            log.info("continuing study %s (sweep run %s)", name, run.run_id)
        else:
            study.set_user_attr(STUDY_SWEEP_RUN, run.run_id)
            run.log_dict(space.to_dict(), "space.json")
        if req.workers == 1:
            ran = work(
                study, context(run.run_id), url=url, n_trials=req.n_trials, deadline=deadline
            )
        else:
            ran = _run_workers(req, name, url, run.run_id, deadline)
        from unisim.sweep.result import finish_sweep

        result = SweepResult(name, url, run.run_id, experiment, count_trials(study), ran)
        finish_sweep(study, req, result, store, run)
        result.url = run.ui_url(target)
    return result


# ---------------------------------------------------------------- local worker processes


def worker_command(
    req: SweepRequest, study: str, url: str, run_id: str, deadline: float | None
) -> list[str]:
    """``unisim sweep ... --worker``: the same sweep, trials only."""
    args = [sys.executable, "-m", "unisim", "sweep", req.config, "--space", req.space]
    args += ["--study", study, "--storage", url, "--worker", "--sweep-run-id", run_id]
    args += ["--trials", str(req.n_trials), "--metric", req.metric]
    for item in req.overrides:
        args += ["--set", item]
    if req.pruner:
        args += ["--pruner", req.pruner]
    if deadline is not None:
        args += ["--budget-s", f"{max(1.0, deadline - time.time()):.0f}"]
    for flag, value in (("--tracking-uri", req.tracking_uri), ("--profile", req.profile)):
        if value:
            args += [flag, value]
    return args


def _run_workers(
    req: SweepRequest, study: str, url: str, run_id: str, deadline: float | None
) -> int:
    """K worker processes, each with 1/K of the CPU threads; their trials count once."""
    from unisim.training.threads import available_cores

    threads = max(1, available_cores() // req.workers)
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    cmd = worker_command(req, study, url, run_id, deadline)
    procs = [subprocess.Popen(cmd, env=env) for _ in range(req.workers)]
    log.info("%d workers (%d thread%s each)", len(procs), threads, "" if threads == 1 else "s")
    try:
        codes = [p.wait() for p in procs]
    except BaseException:  # Ctrl-C, SIGTERM: every worker ends its trial (FAIL) and stops
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
        raise
    bad = [c for c in codes if c]
    if bad and len(bad) == len(codes):
        raise UnisimError(f"every sweep worker failed (exit codes {codes})")
    if bad:
        log.warning("sweep workers exited with %s; the others finished the study", codes)
    return -1  # trials ran in the workers


def to_json(result: SweepResult) -> str:
    data = {k: v for k, v in result.__dict__.items() if k != "counts"}
    data["counts"] = result.counts.__dict__ if result.counts is not None else None
    return json.dumps(data, indent=2, default=str)


def today() -> date:
    return date.today()
