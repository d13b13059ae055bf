"""Reference models the surrogate is measured against besides the champion: persistence and FNO.

    persistence = persistence_baseline(traj, context=1)        # always cheap, no model
    fno = fno_baseline(store, loaded, fno_source=None, experiment_id=exp, data_hash=h,
                       traj=traj, cond=cond, batch_size=64, device="cpu")

Persistence predicts u(t) = u(t0): a surrogate that does not beat it has learnt
nothing. The FNO baseline is a trained FNO run: the one passed explicitly
(``fno_source``: run id, ``models:/`` URI or checkpoint), else the newest
finished FNO training run on the same data (``unisim.data_hash``) in the
evaluated run's experiment.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from unisim import tracking as T
from unisim.errors import UnisimError
from unisim.evaluation.champion import Baseline
from unisim.evaluation.engine import evaluate_loaded, evaluate_persistence
from unisim.evaluation.sources import LoadedModel, load_source

log = logging.getLogger(__name__)


def persistence_baseline(traj: np.ndarray, *, context: int) -> Baseline:
    scores = evaluate_persistence(traj, context=context)
    return Baseline(
        metrics=scores.metrics,
        rollout_curve=[float(v) for v in scores.rollout_curve],
        reason="",
        label="persistence",
        info={"source": "persistence: u(t) = u(t0)"},
    )


def fno_baseline(
    store: T.Store,
    loaded: LoadedModel,
    *,
    fno_source: str | None,
    experiment_id: str | None,
    data_hash: str,
    traj: np.ndarray,
    cond: np.ndarray | None,
    batch_size: int,
    device: Any,
) -> Baseline:
    """The FNO baseline's metrics on the same trajectories, or why there are none."""
    if loaded.cfg is not None and loaded.cfg.model.name == "fno" and fno_source is None:
        return Baseline(reason="the evaluated model is an FNO", label="fno")
    source = fno_source
    if source is None and experiment_id is not None:
        run = store.find_model_run(experiment_id, data_hash, "fno")
        source = run.info.run_id if run is not None else None
    if source is None:
        return Baseline(reason=f"no finished FNO run on data {data_hash}", label="fno")
    if loaded.run_id is not None and source == loaded.run_id:
        return Baseline(reason="the FNO run is the evaluated run", label="fno")
    try:
        fno = load_source(source, store)
        scores = evaluate_loaded(fno, traj, cond=cond, batch_size=batch_size, device=device)
    except UnisimError as exc:
        log.warning("FNO baseline %s skipped: %s", source, exc)
        return Baseline(error=f"FNO baseline {source} not evaluated: {exc}", label="fno")
    return Baseline(
        metrics={k: v for k, v in scores.metrics.items() if k != "eval_time_s"},
        rollout_curve=[float(v) for v in scores.rollout_curve],
        reason="",
        label="fno",
        info={"source": source, "run_id": fno.run_id},
    )
