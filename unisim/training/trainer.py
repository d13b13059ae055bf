"""The training loop: epochs of optimisation, rollout validation, early stopping, checkpoints.

    trainer = Trainer(cfg, model, train, val, device=torch.device("cpu"), checkpoint_dir=d,
                      train_cond=splits.conditioning("train"), val_cond=splits.conditioning("val"))
    trainer.load_state_dict(load_checkpoint(d / "last.pt"))     # optional: resume
    result = trainer.fit(callbacks=[MyCallback()])              # FitResult
    trainer.train_one_epoch(epoch) -> {"train/loss": ..., ...}; evaluate(model, val, ...) -> {...}

The loop knows nothing about MLflow or terminals: it reports each epoch's
metrics to plain callbacks (``Callback.on_epoch_end``), after the epoch's
checkpoint is on disk. Per-epoch metrics: ``train/loss`` (+ its one-step,
rollout and reconstruction parts), ``val/nrmse`` (PDEBench nRMSE of the full
autoregressive rollout on the validation split, context steps excluded), ``lr``
(at the epoch's first step), ``epoch_time_s`` and ``train/samples_per_s``.

A NaN or Inf loss raises ``NonFiniteLoss`` at once (on every rank): a run never
continues silently with broken weights.
"""

from __future__ import annotations

import logging
import math
import random
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from unisim.config import Config, config_hash, to_dict
from unisim.errors import UnisimError
from unisim.evaluation.metrics import nrmse
from unisim.models import count_parameters, rollout
from unisim.training.checkpoint import BEST, LAST, save_checkpoint
from unisim.training.distributed import DistInfo, all_reduce_mean, any_rank
from unisim.training.objective import SurrogateObjective, TrajectoryWindows
from unisim.training.optim import EMA, build_optimizer, build_scheduler

log = logging.getLogger(__name__)


class NonFiniteLoss(UnisimError):
    """The training loss became NaN or Inf: the run fails (exit code 1, not bad input)."""

    exit_code = 1


class Callback:
    """Hooks the loop calls; subclass and override what you need (all no-ops here)."""

    def on_train_start(self, trainer: Trainer) -> None:
        """Before the first epoch (``trainer.epoch`` is the last completed one)."""

    def on_epoch_end(self, trainer: Trainer, epoch: int, metrics: dict[str, float]) -> None:
        """After an epoch's metrics are computed and its checkpoints written."""

    def on_train_end(self, trainer: Trainer, error: BaseException | None) -> None:
        """Always called, also when the loop raised (``error`` is the exception)."""


@dataclass
class FitResult:
    epochs_run: int  # completed epochs in total (resumed ones included)
    best_val_nrmse: float
    best_epoch: int
    stop_reason: str  # completed | early_stopping | time_budget


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch; prefer deterministic kernels (warn, never fail)."""
    import os

    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # deterministic cuBLAS
    torch.use_deterministic_algorithms(True, warn_only=True)


@torch.no_grad()
def evaluate(
    model: nn.Module,
    traj: np.ndarray,
    *,
    context: int,
    batch_size: int = 64,
    device: torch.device | str = "cpu",
    cond: np.ndarray | None = None,
) -> dict[str, float]:
    """``val/nrmse``: nRMSE of the rollout from the first ``context`` true frames (N, nt, X);
    ``cond`` (N, K) the conditioning vector of each trajectory (None: the model's default)."""
    was_training = model.training
    model.eval()
    preds = []
    steps = traj.shape[1] - context
    for lo in range(0, traj.shape[0], batch_size):
        batch = torch.as_tensor(traj[lo : lo + batch_size, :context], device=device)
        c = None if cond is None else torch.as_tensor(cond[lo : lo + batch_size], device=device)
        preds.append(rollout(model, batch.float(), steps, c).float().cpu().numpy())
    model.train(was_training)
    return {"val/nrmse": nrmse(np.concatenate(preds), traj[:, context:])}


def _rng_state() -> dict[str, Any]:
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": [name, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached],
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class Trainer:
    """Owns model, objective, optimiser, schedule and EMA for one training run."""

    def __init__(
        self,
        cfg: Config,
        model: nn.Module,
        train: np.ndarray,
        val: np.ndarray,
        *,
        device: torch.device | None = None,
        dist: DistInfo | None = None,
        checkpoint_dir: Path | None = None,
        meta: dict[str, Any] | None = None,
        train_cond: np.ndarray | None = None,
        val_cond: np.ndarray | None = None,
    ) -> None:
        tc = cfg.training
        self.cfg, self.tc = cfg, tc
        self.device = device or torch.device("cpu")
        self.dist = dist or DistInfo()
        self.checkpoint_dir = checkpoint_dir if self.dist.is_main else None
        self.meta = dict(meta or {})  # run_id, data_hash: stored in every checkpoint
        self.model = model.to(self.device)
        self.n_params = count_parameters(model)
        self.trainable = self.n_params > 0
        self.val, self.val_cond = val, val_cond  # (N, K) conditioning per trajectory, or None
        self.windows = TrajectoryWindows(
            train,
            context=cfg.model.context,
            horizon=tc.rollout_steps,
            device=self.device,
            cond=train_cond,
        )
        self.steps_per_epoch = self.windows.steps_per_epoch(tc.batch_size, self.dist.world_size)
        self.objective = SurrogateObjective(self.model, tc)
        self.train_module: nn.Module = self.objective
        self.opt = self.sched = self.ema = None
        if self.trainable:
            self.opt = build_optimizer(self.model, tc)
            self.sched = build_scheduler(self.opt, tc, tc.epochs * self.steps_per_epoch)
            self.ema = EMA(self.model, tc.ema_decay) if tc.ema_decay else None
            if self.dist.enabled:
                from torch.nn.parallel import DistributedDataParallel as DDP

                ids = [self.device] if self.device.type == "cuda" else None
                self.train_module = DDP(self.objective, device_ids=ids)
            if tc.compile and self.device.type == "cuda":  # never on CPU/MPS
                self.train_module = torch.compile(self.train_module)
        cuda = self.device.type == "cuda"
        self.amp = bool(tc.amp and cuda and torch.cuda.is_bf16_supported())
        # progress (all restored on resume)
        self.epoch = 0  # last completed epoch
        self.step = 0  # optimiser steps taken
        self.best_val_nrmse = math.inf
        self.best_epoch = 0
        self.bad_epochs = 0
        self.elapsed_s = 0.0  # training + validation wall time, summed over sessions
        self.stop_reason: str | None = None
        self.history: list[dict[str, float]] = []

    @property
    def eval_model(self) -> nn.Module:
        """The weights that are evaluated, checkpointed as best and logged: EMA when enabled."""
        return self.ema.model if self.ema is not None else self.model

    # ------------------------------------------------------------ one epoch

    def _check_finite(self, loss: torch.Tensor, epoch: int) -> None:
        bad = not bool(torch.isfinite(loss.detach()))
        if self.dist.enabled:
            bad = any_rank(bad, self.dist, self.device)  # every rank stops together
        if bad:
            raise NonFiniteLoss(
                f"non-finite training loss ({loss.item()}) at epoch {epoch}, step {self.step + 1}"
            )

    def train_one_epoch(self, epoch: int) -> dict[str, float]:
        """One pass over this rank's shard of the training windows."""
        assert self.opt is not None and self.sched is not None
        self.train_module.train()
        lr = self.opt.param_groups[0]["lr"]
        params = [p for p in self.model.parameters() if p.requires_grad]
        autocast = (
            torch.autocast(device_type="cuda", dtype=torch.bfloat16) if self.amp else nullcontext()
        )
        sums: dict[str, torch.Tensor] = {}
        n = 0
        t0 = time.perf_counter()
        for window, target, cond in self.windows.batches(
            epoch,
            batch_size=self.tc.batch_size,
            rank=self.dist.rank,
            world=self.dist.world_size,
            seed=self.cfg.seed,
        ):
            with autocast:
                loss, parts = self.train_module(window, target, cond)
            self._check_finite(loss, epoch)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            if self.tc.grad_clip is not None:
                nn.utils.clip_grad_norm_(params, self.tc.grad_clip)
            self.opt.step()
            self.sched.step()
            self.step += 1
            if self.ema is not None:
                self.ema.update(self.model)
            b = window.shape[0]
            n += b
            for key, value in (("loss", loss.detach()), *parts.items()):
                sums[key] = sums.get(key, 0.0) + value.float() * b
        seconds = time.perf_counter() - t0
        means = torch.stack([sums[k] / max(n, 1) for k in sums])
        means = all_reduce_mean(means, self.dist).cpu().tolist()  # one collective
        names = ["train/loss" if k == "loss" else f"train/loss_{k}" for k in sums]
        out = dict(zip(names, means, strict=True))
        out["lr"] = lr
        out["train/samples_per_s"] = n * self.dist.world_size / max(seconds, 1e-9)
        return out

    def evaluate(self) -> dict[str, float]:
        return evaluate(
            self.eval_model,
            self.val,
            context=self.cfg.model.context,
            batch_size=self.cfg.evaluation.batch_size,
            device=self.device,
            cond=self.val_cond,
        )

    # ------------------------------------------------------------ the loop

    def fit(self, callbacks: list[Callback] | tuple[Callback, ...] = ()) -> FitResult:
        """Train from ``self.epoch + 1`` to ``training.epochs`` (0 epochs for persistence)."""
        last = self.tc.epochs if self.trainable else 0
        for cb in callbacks:
            cb.on_train_start(self)
        error: BaseException | None = None
        try:
            if not self.trainable and not self.history:
                self._end_epoch(0, self.evaluate() | {"epoch_time_s": 0.0}, callbacks, final=True)
            for epoch in range(self.epoch + 1, last + 1):
                if self.stop_reason is not None:
                    break
                t0 = time.perf_counter()
                metrics = self.train_one_epoch(epoch)
                metrics.update(self.evaluate())
                metrics["epoch_time_s"] = time.perf_counter() - t0
                self._end_epoch(epoch, metrics, callbacks, final=epoch == last)
        except BaseException as exc:
            error = exc
            raise
        finally:
            for cb in callbacks:
                cb.on_train_end(self, error)
        return FitResult(self.epoch, self.best_val_nrmse, self.best_epoch, self.stop_reason or "")

    def _end_epoch(
        self, epoch: int, metrics: dict[str, float], callbacks: Any, *, final: bool
    ) -> None:
        self.epoch = epoch
        self.elapsed_s += metrics["epoch_time_s"]
        val = metrics["val/nrmse"]
        improved = val < self.best_val_nrmse  # False for NaN
        if improved:
            self.best_val_nrmse, self.best_epoch, self.bad_epochs = val, epoch, 0
        else:
            self.bad_epochs += 1
        patience = self.tc.early_stopping_patience
        over_budget = self.tc.max_time_s is not None and self.elapsed_s >= self.tc.max_time_s
        over_budget = any_rank(over_budget, self.dist, self.device)  # rank clocks differ
        if final:
            self.stop_reason = "completed"
        elif patience is not None and self.bad_epochs >= patience:
            self.stop_reason = "early_stopping"
        elif over_budget:
            self.stop_reason = "time_budget"
        if self.stop_reason and self.stop_reason != "completed":
            log.info("stopping after epoch %d: %s", epoch, self.stop_reason)
        self.history.append({"epoch": float(epoch), **metrics})
        log.info(
            "epoch %d: train/loss=%s val/nrmse=%.5g", epoch, metrics.get("train/loss", "-"), val
        )
        # Checkpoints before callbacks: a crash after this point loses no epoch, and the
        # MLflow callback can refill metric steps that never reached the server.
        if self.checkpoint_dir is not None:
            if improved:
                self.save(self.checkpoint_dir / BEST)
            if epoch % self.tc.checkpoint_every == 0 or self.stop_reason:
                self.save(self.checkpoint_dir / LAST)
        for cb in callbacks:
            cb.on_epoch_end(self, epoch, metrics)

    # ------------------------------------------------------------ state

    def state_dict(self) -> dict[str, Any]:
        """Everything a resumed run needs to continue exactly where this one stands."""
        return {
            "model": self.model.state_dict(),
            "ema": self.ema.state_dict() if self.ema is not None else None,
            "optimizer": self.opt.state_dict() if self.opt is not None else None,
            "scheduler": self.sched.state_dict() if self.sched is not None else None,
            "epoch": self.epoch,
            "step": self.step,
            "best_val_nrmse": self.best_val_nrmse,
            "best_epoch": self.best_epoch,
            "bad_epochs": self.bad_epochs,
            "elapsed_s": self.elapsed_s,
            "stop_reason": self.stop_reason,
            "history": list(self.history),
            "rng": _rng_state(),
            "config": to_dict(self.cfg),
            "config_hash": config_hash(self.cfg),
            "model_name": self.cfg.model.name,
            "n_params": self.n_params,
            "finished": False,
            **self.meta,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model.load_state_dict(state["model"])
        if self.ema is not None and state.get("ema") is not None:
            self.ema.load_state_dict(state["ema"])
        if self.opt is not None and state.get("optimizer") is not None:
            self.opt.load_state_dict(state["optimizer"])
        if self.sched is not None and state.get("scheduler") is not None:
            self.sched.load_state_dict(state["scheduler"])
        self.epoch, self.step = int(state["epoch"]), int(state["step"])
        self.best_val_nrmse = float(state["best_val_nrmse"])
        self.best_epoch, self.bad_epochs = int(state["best_epoch"]), int(state["bad_epochs"])
        self.elapsed_s = float(state["elapsed_s"])
        self.stop_reason = state.get("stop_reason")
        self.history = [dict(h) for h in state["history"]]
        _set_rng_state(state["rng"])

    def save(self, path: Path, **extra: Any) -> Path:
        return save_checkpoint(path, {**self.state_dict(), **extra})
