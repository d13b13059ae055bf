"""Reference models the surrogate is measured against besides the champion: persistence and FNO.

    persistence = persistence_baseline(traj, context=1)        # always cheap, no model
    fno = fno_baseline(client, loaded, fno_source=None, experiment_id=exp, data_hash=h,
                       traj=traj, nu=nu, batch_size=64, device="cpu")

Persistence predicts u(t) = u(t0): a surrogate that does not beat it has learnt
nothing. The FNO baseline is a trained FNO run: the one passed explicitly
(``fno_source``: run id, ``models:/`` URI or checkpoint), else the newest
finished FNO training run on the same data (``unisim.data_hash``) in the
evaluated run's experiment.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np

from unisim.errors import UnisimError
from unisim.evaluation.champion import Baseline
from unisim.evaluation.engine import evaluate_loaded, evaluate_persistence
from unisim.evaluation.sources import LoadedModel, load_source

if TYPE_CHECKING:
    from mlflow import MlflowClient

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


def find_fno_run(client: MlflowClient, experiment_id: str, data_hash: str) -> str | None:
    """The newest finished FNO training run on this data in ``experiment_id``."""
    from unisim.tracking import TAG_DATA_HASH, TAG_KIND

    runs = client.search_runs(
        [experiment_id],
        filter_string=(
            "params.`model.name` = 'fno' and attributes.status = 'FINISHED' "
            f"and tags.`{TAG_KIND}` = 'train' and tags.`{TAG_DATA_HASH}` = '{data_hash}'"
        ),
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    return runs[0].info.run_id if runs else None


def fno_baseline(
    client: MlflowClient,
    loaded: LoadedModel,
    *,
    fno_source: str | None,
    experiment_id: str | None,
    data_hash: str,
    traj: np.ndarray,
    nu: float | None,
    batch_size: int,
    device: Any,
) -> Baseline:
    """The FNO baseline's metrics on the same trajectories, or why there are none."""
    if loaded.cfg is not None and loaded.cfg.model.name == "fno" and fno_source is None:
        return Baseline(reason="the evaluated model is an FNO", label="fno")
    source = fno_source
    if source is None and experiment_id is not None:
        source = find_fno_run(client, experiment_id, data_hash)
    if source is None:
        return Baseline(reason=f"no finished FNO run on data {data_hash}", label="fno")
    if loaded.run_id is not None and source == loaded.run_id:
        return Baseline(reason="the FNO run is the evaluated run", label="fno")
    try:
        fno = load_source(source, client)
        scores = evaluate_loaded(fno, traj, nu=nu, batch_size=batch_size, device=device)
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
