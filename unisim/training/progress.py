"""A rich progress bar for training, as a loop callback (the loop itself never uses rich).

    trainer.fit(callbacks=[RichProgress()])
    # epoch 3/20 ━━━━━━━━━━━━━╸━━━━━━━━━  15% loss 1.23e-01  val nRMSE 0.0841  0:01:12

Drawn on stderr, so stdout stays clean for results (``unisim train --json``).
"""

from __future__ import annotations

from typing import Any

from unisim.display import num
from unisim.training.trainer import Callback, Trainer


class RichProgress(Callback):
    def __init__(self, console: Any = None) -> None:
        self.console = console
        self.progress: Any = None
        self.task: Any = None

    def on_train_start(self, trainer: Trainer) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

        total = trainer.tc.epochs if trainer.trainable else 1
        self.progress = Progress(
            TextColumn("epoch {task.completed}/{task.total}"),
            BarColumn(),
            TextColumn("loss {task.fields[loss]}  val nRMSE {task.fields[val]}"),
            TimeRemainingColumn(),
            console=self.console or Console(stderr=True),
            transient=False,
        )
        self.progress.start()
        self.task = self.progress.add_task(
            "train", total=total, completed=trainer.epoch, loss="-", val="-"
        )

    def on_epoch_end(self, trainer: Trainer, epoch: int, metrics: dict[str, float]) -> None:
        loss = metrics.get("train/loss")
        self.progress.update(
            self.task,
            completed=max(epoch, 1) if not trainer.trainable else epoch,
            loss=f"{loss:.3e}" if loss is not None else "-",
            val=num(metrics["val/nrmse"]),
        )

    def on_train_end(self, trainer: Trainer, error: BaseException | None) -> None:
        if self.progress is not None:
            self.progress.stop()
