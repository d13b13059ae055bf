"""The champion baseline: evaluate the registry's champion once per data and split, cached.

    base = champion_baseline(store, cfg, evaluated_run_id=run_id, evaluated_version=None,
                             traj=traj, cond=cond, selection=Selection("test", "full", 1, None),
                             data_hash=h, device="cpu")
    base.metrics        # the champion's metrics on the same trajectories, or None
    base.reason         # why there is no comparison ("provisional: no champion", ...)

The champion is the registered model version under the alias ``champion``
(``store.champion``, the one reader). Its metrics are cached as a tag on that
version, keyed by the split, the trajectory selection, the data hash and the
metric-definition version (``tracking.schema.champion_cache_tag``), so the champion
is evaluated once and every later run compares against the tag. A run is never
compared with itself: when the evaluated run is the champion's source run, there is
no baseline.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import numpy as np

from unisim import tracking as T
from unisim.errors import UnisimError

if TYPE_CHECKING:
    from unisim.config import Config

log = logging.getLogger(__name__)

CHAMPION_ALIAS = T.ALIAS_CHAMPION


@dataclass(frozen=True)
class Selection:
    """Which trajectories were evaluated: split, stage, stride, cap."""

    split: str
    stage: str
    stride: int = 1
    max_samples: int | None = None
    condition_on: str = "true"  # or "nearest-train": what the models are told

    @property
    def key(self) -> str:
        cap = "all" if self.max_samples is None else str(self.max_samples)
        told = "" if self.condition_on == "true" else f".c{self.condition_on}"
        return f"{self.split}.s{self.stride}.m{cap}{told}"


@dataclass
class Baseline:
    """A reference model's side of the comparison (champion, persistence, FNO)."""

    metrics: dict[str, float] | None = None
    rollout_curve: list[float] | None = None
    per_trajectory: list[float] | None = None  # rollout nRMSE of each trajectory (paired gates)
    reason: str = "provisional: no champion"  # shown in the gate rows when metrics is None
    error: str | None = None  # a champion exists but could not be evaluated: gates fail
    label: str = "champion"
    info: dict[str, Any] = field(default_factory=dict)

    def to_report(self) -> dict[str, Any]:
        return {**self.info, "metrics": self.metrics, "note": self.error or self.reason or None}


def cache_key(selection: Selection, data_hash: str) -> str:
    """The champion-cache tag of one trajectory selection on one dataset."""
    return T.champion_cache_tag(selection.key, data_hash)


def find_champion(store: T.Store, name: str) -> T.Champion | None:
    """The champion of registered model ``name`` (None when there is none)."""
    return store.champion(name)


def _nan_safe(metrics: dict[str, Any]) -> dict[str, float]:
    return {k: float("nan") if v is None else float(v) for k, v in metrics.items()}


def champion_baseline(
    store: T.Store,
    cfg: Config,
    *,
    evaluated_run_id: str | None,
    evaluated_version: tuple[str, str] | None,
    traj: np.ndarray,
    cond: np.ndarray | None,
    selection: Selection,
    data_hash: str,
    device: Any,
    need_per_trajectory: bool = False,
) -> Baseline:
    """Metrics of the champion on the same trajectories (cached), or why there are none.

    ``need_per_trajectory`` (a paired gate): a cache entry without per-trajectory errors
    (written before they were cached) is evaluated again.
    """
    from unisim.evaluation.engine import GridMismatch, evaluate_loaded
    from unisim.evaluation.report import clean
    from unisim.evaluation.sources import load_source

    champ = store.champion(cfg.registry.model_name)
    if champ is None:
        return Baseline(reason=f"provisional: no champion for {cfg.registry.model_name!r}")
    info = {"name": champ.name, "version": champ.version, "run_id": champ.run_id}
    same_run = evaluated_run_id is not None and evaluated_run_id == champ.run_id
    if same_run or evaluated_version == (champ.name, champ.version):
        return Baseline(
            reason=f"provisional: this model is the {champ.label} (not compared with itself)",
            label=champ.label,
            info={**info, "self": True},
        )

    key = cache_key(selection, data_hash)
    cached = store.champion_cache(champ, key)
    if cached is not None and need_per_trajectory and not cached.get("per_trajectory"):
        cached = None
    if cached is not None:
        log.info("%s: metrics from cache tag %s", champ.uri, key)
        return Baseline(
            metrics=_nan_safe(cached["metrics"]),
            rollout_curve=cached.get("rollout_curve"),
            per_trajectory=cached.get("per_trajectory"),
            reason="",
            label=champ.label,
            info={**info, "cached": True},
        )

    log.info("evaluating %s on %s (%d trajectories)", champ.uri, selection.key, traj.shape[0])
    try:
        loaded = load_source(champ.uri, store)
        scores = evaluate_loaded(
            loaded, traj, cond=cond, batch_size=cfg.evaluation.batch_size, device=device
        )
    except GridMismatch as exc:
        return Baseline(
            reason=f"provisional: {champ.label} does not fit this data ({exc})",
            label=champ.label,
            info={**info, "incomparable": True},
        )
    except UnisimError as exc:
        return Baseline(
            error=f"{champ.label} could not be evaluated: {exc}", label=champ.label, info=info
        )
    metrics = {k: v for k, v in scores.metrics.items() if k != "eval_time_s"}
    curve = [float(v) for v in scores.rollout_curve]
    per_traj = [float(v) for v in scores.per_trajectory]
    payload = {
        "metrics": metrics,
        "rollout_curve": curve,
        "per_trajectory": per_traj,
        "n_samples": int(traj.shape[0]),
        "evaluated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    store.write_champion_cache(champ, key, clean(payload))
    return Baseline(
        metrics=metrics,
        rollout_curve=curve,
        per_trajectory=per_traj,
        reason="",
        label=champ.label,
        info=info,
    )
