"""The bridge from the training loop's callbacks to an MLflow run (through unisim.tracking).

    with start_run(kind="train", ...) as run:
        cb = MlflowCallback(run, resumed=False)
        trainer.fit(callbacks=[cb])          # per-epoch metrics at step = epoch, flushed each epoch
        cb.log_time_s                        # seconds spent talking to MLflow (benchmark)

Resume without gaps or duplicates: the loop writes its checkpoint before it
calls ``on_epoch_end``, and a checkpoint carries the metric history. On a
resumed run this callback first asks the server which (metric, step) points
exist, refills the checkpointed epochs that never reached it, and from then on
skips any point that is already there (an epoch re-run after a crash).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from unisim.tracking.schema import VAL_BEST_NRMSE, WALL_CLOCK_S
from unisim.training.trainer import Callback, Trainer

if TYPE_CHECKING:
    from unisim.tracking import TrackedRun

METRIC_KEYS = (
    "train/loss",
    "train/loss_one_step",
    "train/loss_rollout",
    "train/loss_recon",
    "val/nrmse",
    "lr",
    "epoch_time_s",
    "train/samples_per_s",
)
FINAL_KEYS = (VAL_BEST_NRMSE, WALL_CLOCK_S)  # logged once, at the end of training, no step


def logged_steps(
    run: TrackedRun, keys: tuple[str, ...] = METRIC_KEYS + FINAL_KEYS
) -> dict[str, set[int]]:
    """Steps already stored on the server for each metric key of ``run``."""
    return run.logged_steps(keys)


class MlflowCallback(Callback):
    def __init__(self, run: TrackedRun, *, resumed: bool = False) -> None:
        self.run = run
        self.seen: dict[str, set[int]] = logged_steps(run) if resumed else {}
        self.log_time_s = 0.0

    def _log(self, epoch: int, metrics: dict[str, float]) -> None:
        fresh = {
            k: v for k, v in metrics.items() if k != "epoch" and epoch not in self.seen.get(k, ())
        }
        if fresh:
            self.run.metrics.log(fresh, step=epoch)
        for k in fresh:
            self.seen.setdefault(k, set()).add(epoch)

    def on_train_start(self, trainer: Trainer) -> None:
        t0 = time.perf_counter()
        for entry in trainer.history:  # checkpointed epochs (resume); no-op on a fresh run
            self._log(int(entry["epoch"]), entry)
        self.run.metrics.flush()
        self.log_time_s += time.perf_counter() - t0

    def on_epoch_end(self, trainer: Trainer, epoch: int, metrics: dict[str, float]) -> None:
        t0 = time.perf_counter()
        self._log(epoch, metrics)
        self.run.metrics.flush()
        self.log_time_s += time.perf_counter() - t0

    def log_final(self, metrics: dict[str, float]) -> None:
        """End-of-training scalars, without a step (a step would make the UI draw a
        one-point chart); skipped when a crashed session already sent them."""
        self._log(0, metrics)
        self.run.metrics.flush()
