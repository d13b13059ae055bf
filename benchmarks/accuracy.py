"""Accuracy at equal budget: unisim's golden surrogate vs neuraloperator's FNO vs our FNO.

    .venv/bin/python benchmarks/accuracy.py                    # golden config, full size (long)
    .venv/bin/python benchmarks/accuracy.py --quick            # tiny smoke test (< 2 min)
    .venv/bin/python benchmarks/accuracy.py --epochs 30 --time-budget-s 240 --threads 2
    .venv/bin/python benchmarks/accuracy.py --config C.yaml --set training.lr=3e-4 --skip-run

On the config's data (``unisim.data.load_data``: the cache, generated on first
use), in one process and one after the other, three models are trained by the
same ``unisim.training.trainer.Trainer`` (same seed, batches, objective, AdamW,
clipping, schedule, EMA, rollout validation) with the same epoch and wall-time
budget (``training.epochs`` / ``training.max_time_s``; validation counts towards
the time, as in ``unisim train``):

1. unisim's golden surrogate (the config's ``model.name``, ``latent``);
2. ``neuralop.models.FNO`` (the library's FNO) in an adapter with unisim's call
   signature ``model(u (B, C, X), cond=None) -> (B, X)`` that, like unisim's FNO,
   predicts the increment added to the newest frame. Width and layers come from
   ``model.fno`` of the FNO config (``FNO_SHAPE``, then ``--fno-set``); neuralop's
   ``n_modes`` counts modes of the full spectrum (it keeps ``n_modes // 2 + 1`` rfft
   modes), so ``n_modes=(2 * modes - 1,)`` keeps the same ``modes`` rfft modes as
   unisim's FNO. Its grid channel is neuralop's
   own positional embedding; it gets no log-nu channel (one viscosity in the data);
3. unisim's FNO baseline: the config with ``model.name=fno`` and ``FNO_SHAPE`` (the
   shape of README's table; ``--fno-set model.fno.width=64`` changes it for rows 2 and 3);
4. persistence (no training).

Each trained model is evaluated with the weights of its best validation epoch
(what ``train_model`` logs and ``unisim run`` evaluates) on the test split with
``unisim.evaluation.engine.evaluate_model`` / ``evaluate_persistence``, the
functions behind ``unisim evaluate``: ``final_nrmse`` (autoregressive rollout)
and ``one_step_nrmse``. Goal: unisim <= 0.8 x the library FNO's rollout nRMSE.

Then (unless ``--skip-run``) the whole ``python -m unisim run CONFIG`` with the
same overrides runs as a subprocess in a temp folder on a fresh SQLite store,
timed from process start to exit; by default it reuses the data cache warmed
above (``--cold-run``: it generates its data itself). Its ``final_nrmse``
should match the unisim row (same seed and loop). Exit code: 0 when everything
ran (whatever the goal's verdict), 1 when the ``unisim run`` subprocess failed,
2 for bad input.
"""

from __future__ import annotations

import argparse
import copy
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))

DEFAULT_CONFIG = REPO / "configs" / "train_burgers_golden.yaml"
# Used only while configs/train_burgers_golden.yaml does not exist: the golden shape of issue 6.
BUILTIN_GOLDEN: dict[str, Any] = {
    "name": "burgers-golden",
    "seed": 0,
    "data": {
        "nu": 0.01,
        "nx": 128,
        "nt": 41,
        "solver_nx": 1024,
        "n_train": 256,
        "n_val": 32,
        "n_test": 64,
    },  # fmt: skip
    "model": {"name": "latent", "context": 1, "latent": {"dim": 16, "tokens": 32}},
}
# The FNO baselines' shape (README's table). The golden config carried it as an inert
# `fno:` section until a config held only its own architecture's section.
FNO_SHAPE = "model.fno={modes: 16, width: 32, layers: 4}"
QUICK_SETS = [
    "data.n_train=32",
    "data.n_val=8",
    "data.n_test=8",
    "data.nx=64",  # the solver keeps its grid (a coarser one cannot resolve nu=0.01 shocks)
    "data.nt=21",
    "training.epochs=1",
]
GOAL_RATIO = 0.8
TRACKING_VARS = (
    "MLFLOW_TRACKING_URI",
    "MLFLOW_REGISTRY_URI",
    "UNISIM_PROFILE",
    "UNISIM_CONFIG_DIR",
)


def resolve_config(args: argparse.Namespace) -> tuple[Any, Path | None, list[str]]:
    """(config, its file or None for the built-in one, the overrides applied)."""
    from unisim.config import build_config, load_config

    sets = [*(QUICK_SETS if args.quick else []), *args.set]
    if args.epochs is not None:
        sets.append(f"training.epochs={args.epochs}")
    if args.time_budget_s is not None:
        sets.append(f"training.max_time_s={args.time_budget_s}")
    if args.config is not None or DEFAULT_CONFIG.is_file():
        path = Path(args.config) if args.config is not None else DEFAULT_CONFIG
        return load_config(path, sets), path.resolve(), sets
    return build_config(BUILTIN_GOLDEN, sets, source="<built-in golden>"), None, sets


def make_library_fno(cfg: Any) -> Any:
    """neuralop's FNO behind unisim's surrogate signature (increment on the newest frame)."""
    import torch
    from neuralop.models import FNO
    from torch import nn

    f = cfg.model.fno

    class LibraryFNO(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.context = cfg.model.context
            self.nx = cfg.data.nx // cfg.data.downsample_x
            self.n_modes = 2 * f.modes - 1  # neuralop keeps n_modes // 2 + 1 = f.modes rfft modes
            self.fno = FNO(
                n_modes=(self.n_modes,),
                in_channels=self.context,
                out_channels=1,
                hidden_channels=f.width,
                n_layers=f.layers,
            )

        def forward(self, u: Any, cond: Any = None) -> Any:
            # u: (B, C, X) -> (B, X); cond is unused (a single viscosity in the data). float32
            # under CUDA autocast: bf16 FFTs are unsupported (unisim's FNO does the same).
            with torch.autocast(device_type=u.device.type, enabled=False):
                return u[:, -1] + self.fno(u.float())[:, 0].to(u.dtype)

    return LibraryFNO()


def real_params(model: Any) -> int:
    """Trainable parameters as real numbers (a complex weight counts twice)."""
    return sum(
        p.numel() * (2 if p.is_complex() else 1) for p in model.parameters() if p.requires_grad
    )


class KeepBest:
    """Trainer callback: a copy of the evaluated (EMA) weights of the best validation epoch."""

    def __init__(self) -> None:
        self.model: Any = None  # a copy of the module (neuralop's state_dict adds _metadata)

    def on_train_start(self, trainer: Any) -> None:
        pass

    def on_epoch_end(self, trainer: Any, epoch: int, metrics: dict[str, float]) -> None:
        if trainer.best_epoch == epoch:
            self.model = copy.deepcopy(trainer.eval_model)

    def on_train_end(self, trainer: Any, error: BaseException | None) -> None:
        pass


def train_and_evaluate(label: str, cfg: Any, build: Any, splits: Any) -> dict[str, Any]:
    """Seed, build, fit with the shared Trainer, evaluate the best weights on the test split."""
    from unisim.evaluation.engine import evaluate_model
    from unisim.evaluation.rollout import pick_device as eval_device
    from unisim.training.distributed import pick_device
    from unisim.training.trainer import Trainer, seed_everything

    seed_everything(cfg.seed)
    model = build(cfg)
    device = pick_device(cfg.training.device)
    trainer = Trainer(
        cfg,
        model,
        splits.train,
        splits.val,
        device=device,
        train_cond=splits.conditioning("train"),
        val_cond=splits.conditioning("val"),
    )
    keep = KeepBest()
    print(f"training {label} ({real_params(model):,} params) on {device} ...", flush=True)
    t0 = time.perf_counter()
    fit = trainer.fit([keep])
    seconds = time.perf_counter() - t0
    best = keep.model if keep.model is not None else trainer.eval_model  # None: NaN val
    scores = evaluate_model(
        best,
        splits.test,
        context=cfg.model.context,
        cond=splits.conditioning("test"),
        batch_size=cfg.evaluation.batch_size,
        device=eval_device(cfg.evaluation.device),
    )
    row = {
        "model": label,
        "params": real_params(model),
        "epochs": fit.epochs_run,
        "stop": fit.stop_reason,
        "best_epoch": fit.best_epoch,
        "best_val_nrmse": fit.best_val_nrmse,
        "train_s": seconds,
        "final_nrmse": scores.metrics["final_nrmse"],
        "one_step_nrmse": scores.metrics["one_step_nrmse"],
    }
    print(
        f"  {label}: {fit.epochs_run} epochs ({fit.stop_reason}) in {seconds:.1f} s, "
        f"best val/nrmse {fit.best_val_nrmse:.4g} at epoch {fit.best_epoch}, "
        f"test final_nrmse {row['final_nrmse']:.4g}",
        flush=True,
    )
    return row


def time_unisim_run(
    config_path: Path | None, cfg: Any, sets: list[str], *, cold: bool, threads: int | None
) -> dict[str, Any]:
    """Wall time of ``python -m unisim run`` in a temp folder on a fresh SQLite store."""
    from unisim.config import to_yaml

    with tempfile.TemporaryDirectory(prefix="unisim-accuracy-run-") as tmp:
        work = Path(tmp)
        if config_path is None:  # the built-in golden config, written out as a file
            config_path = work / "train_burgers_golden.yaml"
            config_path.write_text(to_yaml(cfg), encoding="utf-8")
            sets = []  # already applied
        cache = work / "cold-cache" if cold else Path(cfg.data.cache_dir).resolve()
        extra = [f"data.cache_dir={cache}"]
        if cfg.data.path:
            extra.append(f"data.path={Path(cfg.data.path).resolve()}")
        cmd = [sys.executable, "-m", "unisim", "run", str(config_path)]
        for item in [*sets, *extra]:
            cmd += ["--set", item]
        cmd += ["--tracking-uri", f"sqlite:///{work / 'mlflow.db'}"]
        env = {k: v for k, v in os.environ.items() if k not in TRACKING_VARS}
        env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
        env["COLUMNS"] = "160"  # rich wraps the summary at the terminal width
        if threads is not None:
            env["OMP_NUM_THREADS"] = env["MKL_NUM_THREADS"] = str(threads)
        print(f"\n$ (cd {work}) {' '.join(cmd)}", flush=True)
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - t0
    print("\n".join(proc.stdout.strip().splitlines()[-25:]))
    if proc.returncode != 0:
        print("\n".join(proc.stderr.strip().splitlines()[-25:]), file=sys.stderr)

    def stage_metric(stage: str, key: str) -> float | None:
        # the stage lines of `unisim run`: "✓ eval-full ok 7.1s  final_nrmse=0.0531, ..."
        found = re.search(rf"{stage} (?:ok|reused) .*?{key}=([-+\d.eE]+|nan)", proc.stdout)
        return float(found[1]) if found else None

    return {
        "seconds": seconds,
        "exit_code": proc.returncode,
        "best_val_nrmse": stage_metric("train", "best_val_nrmse"),
        "final_nrmse": stage_metric("eval-full", "final_nrmse"),
    }


def fmt(value: Any, spec: str = ".4g") -> str:
    if value is None:
        return "-"
    return format(value, spec) if isinstance(value, float) else str(value)


def print_table(rows: list[dict[str, Any]], lib: float, persistence: float) -> None:
    cols = (
        "model | params | epochs run | train time s | test rollout nRMSE | one-step nRMSE | "
        "ratio to library FNO | ratio to persistence"
    )
    print(f"\n| {cols} |")
    print("|" + "---|" * (cols.count("|") + 1))
    for r in rows:
        epochs = f"{r['epochs']} ({r['stop']})" if r.get("stop") else str(r["epochs"])
        cells = [
            r["model"],
            f"{r['params']:,}",
            epochs,
            fmt(r["train_s"], ".1f"),
            fmt(r["final_nrmse"]),
            fmt(r["one_step_nrmse"]),
            fmt(r["final_nrmse"] / lib, ".3f"),
            fmt(r["final_nrmse"] / persistence, ".3f"),
        ]
        print("| " + " | ".join(cells) + " |")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--config", help="config file (default: configs/train_burgers_golden.yaml)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="config override (repeatable)")  # fmt: skip
    p.add_argument("--fno-set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a key of both FNO baselines' config")  # fmt: skip
    p.add_argument("--epochs", type=int, help="epoch budget (default: training.epochs)")
    p.add_argument("--time-budget-s", type=float,
                   help="wall-time budget per model (default: training.max_time_s)")  # fmt: skip
    p.add_argument("--threads", type=int, help="torch threads (default: torch's default)")
    p.add_argument("--skip-run", action="store_true", help="do not time the whole `unisim run`")
    p.add_argument("--cold-run", action="store_true",
                   help="`unisim run` makes its own data (default: the warm cache)")  # fmt: skip
    p.add_argument("--quick", action="store_true", help="tiny sizes for a smoke test")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from unisim.errors import UnisimError

    try:
        return _main(args)
    except UnisimError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _main(args: argparse.Namespace) -> int:
    import torch

    from unisim.config import build_config, to_dict
    from unisim.data import ensure_data, load_data
    from unisim.evaluation.engine import evaluate_persistence
    from unisim.models import build_model

    if args.threads is not None:
        if args.threads < 1:
            print(f"error: --threads {args.threads}: must be >= 1", file=sys.stderr)
            return 2
        torch.set_num_threads(args.threads)
    cfg, config_path, sets = resolve_config(args)
    tc = cfg.training
    print(f"config: {config_path or 'built-in golden (configs/train_burgers_golden.yaml absent)'}")
    print(f"overrides: {' '.join(sets) or '(none)'}")
    print(
        f"torch threads: {torch.get_num_threads()}  torch {torch.__version__}  "
        f"budget: {tc.epochs} epochs, max_time_s={tc.max_time_s}  seed {cfg.seed}"
    )

    made = ensure_data(cfg.data)
    splits = load_data(cfg.data)
    how = f"generated in {made.seconds:.1f} s" if made.generated else "from the cache"
    print(
        f"data {splits.data_hash} ({how}, {made.path}): train {splits.train.shape}, "
        f"val {splits.val.shape}, test {splits.test.shape}, nu={splits.nu:g}"
    )
    if cfg.model.name != "latent":
        print(f"note: the config's model is {cfg.model.name!r}, not the latent surrogate")

    fno_sets = ["model.name=fno", FNO_SHAPE, *args.fno_set]  # the switch drops model.latent
    fno_cfg = build_config(to_dict(cfg), fno_sets, source="<fno baseline>")
    f = fno_cfg.model.fno
    print(
        f"FNO size (both): width {f.width}, layers {f.layers}, {f.modes} rfft modes "
        f"(neuralop n_modes=({2 * f.modes - 1},))"
    )
    rows = [
        train_and_evaluate(f"unisim {cfg.model.name}", cfg, build_model, splits),  # rows[0]
        train_and_evaluate("neuralop FNO", fno_cfg, make_library_fno, splits),
        train_and_evaluate("unisim FNO", fno_cfg, build_model, splits),
    ]
    pers = evaluate_persistence(splits.test, context=cfg.model.context).metrics
    rows.append({
        "model": "persistence", "params": 0, "epochs": 0, "stop": "", "train_s": 0.0,
        "final_nrmse": pers["final_nrmse"], "one_step_nrmse": pers["one_step_nrmse"],
    })  # fmt: skip

    lib, ours = rows[1]["final_nrmse"], rows[0]["final_nrmse"]
    print_table(rows, lib, pers["final_nrmse"])
    ratio = ours / lib
    verdict = "PASS" if ratio <= GOAL_RATIO else "FAIL"
    print(
        f"\nunisim <= {GOAL_RATIO} x library FNO rollout nRMSE: {verdict} "
        f"({ours:.4g} vs {lib:.4g}: {ratio:.3f}x)"
    )
    if args.skip_run:
        return 0
    run = time_unisim_run(config_path, cfg, sets, cold=args.cold_run, threads=args.threads)
    cache = "cold: generates its data" if args.cold_run else "data cache pre-warmed"
    print(f"\nunisim run wall time: {run['seconds']:.1f} s ({cache}; exit code {run['exit_code']})")
    # Same seed, data and loop: its training should match the unisim row above.
    full = fmt(run["final_nrmse"]) if run["final_nrmse"] is not None else "- (no full evaluation)"
    print(
        f"cross-check with the unisim row: best val/nrmse {fmt(run['best_val_nrmse'])} vs "
        f"{rows[0]['best_val_nrmse']:.4g}, test final_nrmse {full} vs {ours:.4g}"
    )
    return 0 if run["exit_code"] == 0 else 1  # failed gates exit 0 without --strict-exit


if __name__ == "__main__":
    sys.exit(main())
