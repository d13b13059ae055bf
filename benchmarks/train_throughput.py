"""Trainer overhead: samples/s of ``Trainer`` vs a bare PyTorch loop, and MLflow's share.

    python benchmarks/train_throughput.py                       # golden-sized model, small data
    python benchmarks/train_throughput.py --model fno --n-train 64 --epochs 4 --threads 1

In one process, on the same model (same seed), the same data and the same
batches (``TrajectoryWindows``), with the same objective, AdamW, clipping and
schedule:

- bare loop: ``loss.backward(); clip; opt.step(); sched.step()``, nothing else;
- Trainer: ``Trainer.train_one_epoch`` (NaN check, metric sums, lr, EMA off).

The first epoch of each is a warm-up and is not timed. Goal: ratio >= 0.95.
Then ``Trainer.fit`` runs inside a real MLflow run on a fresh SQLite store with
the ``MlflowCallback`` that ``train_model`` uses; its time (log + flush, every
epoch) over the epoch time is the logging share. Goal: <= 3%. Data: generated
Burgers trajectories (nu=0.1, cached under a temp folder).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path


def _config(args: argparse.Namespace):
    from unisim.config import build_config

    model = {"name": args.model}
    if args.model == "latent":  # a config holds only its own architecture's section
        model["latent"] = {"tokens": args.nx // 4}
    return build_config(
        {
            "seed": 0,
            "data": {
                "nu": 0.1,
                "nx": args.nx,
                "solver_nx": max(256, args.nx * 2),
                "nt": args.nt,
                "n_train": args.n_train,
                "n_val": 8,
                "n_test": 1,
                "cache_dir": str(args.tmp / "cache"),
            },
            "model": model,
            "training": {
                "epochs": args.epochs + 1,
                "batch_size": args.batch_size,
                "device": "cpu",
                "checkpoint_every": 10_000,
            },
        }
    )


def bare_loop(cfg, splits, epochs: int) -> list[float]:
    """samples/s per epoch of the plainest loop over the same batches."""
    import torch

    from unisim.models import build_model
    from unisim.training.objective import SurrogateObjective, TrajectoryWindows
    from unisim.training.optim import build_optimizer, build_scheduler

    torch.manual_seed(cfg.seed)
    model = build_model(cfg)
    objective = SurrogateObjective(model, cfg.training)
    windows = TrajectoryWindows(
        splits.train, context=cfg.model.context, horizon=cfg.training.rollout_steps,
        device=torch.device("cpu"),
    )  # fmt: skip
    opt = build_optimizer(model, cfg.training)
    sched = build_scheduler(
        opt, cfg.training, cfg.training.epochs * windows.steps_per_epoch(cfg.training.batch_size, 1)
    )
    params = list(model.parameters())
    rates = []
    for epoch in range(epochs + 1):
        n, t0 = 0, time.perf_counter()
        for window, target, cond in windows.batches(epoch, batch_size=cfg.training.batch_size):
            loss, _ = objective(window, target, cond)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, cfg.training.grad_clip)
            opt.step()
            sched.step()
            n += window.shape[0]
        rates.append(n / (time.perf_counter() - t0))
    return rates[1:]


def trainer_loop(cfg, splits, epochs: int) -> list[float]:
    import torch

    from unisim.models import build_model
    from unisim.training.trainer import Trainer

    torch.manual_seed(cfg.seed)
    trainer = Trainer(cfg, build_model(cfg), splits.train, splits.val)
    rates = []
    for epoch in range(epochs + 1):
        n = len(trainer.windows)
        t0 = time.perf_counter()
        trainer.train_one_epoch(epoch)
        rates.append(n / (time.perf_counter() - t0))
    return rates[1:]


def logging_share(cfg, splits, tmp: Path) -> tuple[float, float]:
    """(seconds in the MLflow callback, seconds of training epochs) for a full fit."""
    import torch

    from unisim.models import build_model
    from unisim.tracking import TrackingTarget, start_run
    from unisim.training.mlflow_callback import MlflowCallback
    from unisim.training.trainer import Trainer

    target = TrackingTarget(
        uri=f"sqlite:///{tmp / 'mlflow.db'}", artifact_root=(tmp / "artifacts").as_uri()
    )
    torch.manual_seed(cfg.seed)
    trainer = Trainer(cfg, build_model(cfg), splits.train, splits.val)
    with start_run(kind="train", experiment="bench", target=target, cfg=cfg) as run:
        cb = MlflowCallback(run)
        trainer.fit([cb])
    epoch_s = sum(h["epoch_time_s"] for h in trainer.history)
    return cb.log_time_s, epoch_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="latent", choices=["latent", "fno"])
    parser.add_argument("--nx", type=int, default=64)
    parser.add_argument("--nt", type=int, default=21)
    parser.add_argument("--n-train", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs (+1 warm-up)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="unisim-bench-train-") as tmp:  # removed at the end
        args.tmp = Path(tmp)
        run(args)


def run(args: argparse.Namespace) -> None:

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from unisim.data import load_data

    cfg = _config(args)
    splits = load_data(cfg.data)
    print(
        f"model {cfg.model.name}, train {splits.train.shape} (N, nt, nx), batch "
        f"{cfg.training.batch_size}, {args.epochs} timed epochs, {torch.get_num_threads()} threads"
    )
    # interleave to share the machine's load drift between both loops
    bare, trained = [], []
    for _ in range(2):
        bare += bare_loop(cfg, splits, args.epochs)
        trained += trainer_loop(cfg, splits, args.epochs)
    b, t = statistics.median(bare), statistics.median(trained)
    print(f"bare loop   {b:10.1f} samples/s (median of {len(bare)} epochs)")
    print(f"Trainer     {t:10.1f} samples/s")
    print(f"ratio       {t / b:10.3f}   (goal >= 0.95)")

    log_s, epoch_s = logging_share(cfg, splits, args.tmp)
    share = log_s / (epoch_s + log_s)
    print(
        f"MLflow logging {log_s * 1000:.0f} ms over {cfg.training.epochs} epochs of "
        f"{epoch_s:.2f} s: {share:.2%} of epoch time (goal <= 3%)"
    )


if __name__ == "__main__":
    main()
