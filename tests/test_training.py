"""Training through its public door, ``train_model``, against a real SQLite MLflow store.

What a train run must leave behind: one FINISHED run with params, per-epoch
metrics, dataset input, parameter count, a loadable model and the best
checkpoint; the persistence baseline as a 0-epoch run; early stopping and the
time budget; checkpoints that resume into the same MLflow run with the same
final weights and a metric history without gaps or duplicate steps. (NaN loss
and bad input: tests/test_train_cli.py; SIGKILL: tests/test_train_resume.py.)
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from unisim.config import build_config, config_hash
from unisim.data import data_hash
from unisim.evaluation.metrics import nrmse
from unisim.models import build_model, rollout
from unisim.pdes import get_pde
from unisim.tracking.runs import run_params
from unisim.training import train_model
from unisim.training.checkpoint import load_checkpoint, load_model_from_checkpoint
from unisim.training.trainer import Trainer, seed_everything

EPOCHS = 3
CORE_METRICS = ("train/loss", "val/nrmse", "lr", "epoch_time_s", "train/samples_per_s")


@pytest.fixture(autouse=True)
def _one_thread():
    """Two threads on a shared, busy 2-core box spin-wait: one is ~10x faster here."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


TINY_MODEL = {  # each architecture's own section
    "latent": {"latent": {"tokens": 8, "dim": 8, "hidden": 16, "heads": 2}},
    "fno": {"fno": {"modes": 8, "width": 8, "layers": 2}},
}


def tiny_cfg(name: str = "latent", **training):
    return build_config(
        {
            "seed": 1,
            "data": {
                "nu": 0.1,  # resolved by 256 solver points (0.01 needs ~600)
                "nx": 32,
                "solver_nx": 256,
                "nt": 8,
                "n_train": 4,
                "n_val": 2,
                "n_test": 2,
            },
            "model": {"name": name, **TINY_MODEL.get(name, {})},
            "training": {
                "epochs": EPOCHS,
                "batch_size": 8,
                "lr": 3e-3,
                "rollout_steps": 2,
                "device": "cpu",
                "checkpoint_every": 1,
                **training,
            },
            "tracking": {"experiment": "unit"},
        }
    )


def tiny_splits(cfg):
    """The run's data: generated once per test folder (~0.5 s), then read from the cache."""
    from unisim.data import load_data

    return load_data(cfg.data)


def train(cfg, store, **kw):
    return train_model(cfg, target=store, show_progress=False, **kw)


def steps(client, run_id, key):
    return sorted(m.step for m in client.get_metric_history(run_id, key))


def values(client, run_id, key):
    return [m.value for m in sorted(client.get_metric_history(run_id, key), key=lambda m: m.step)]


# ---------------------------------------------------------------- a normal run


def test_train_logs_one_finished_run_with_metrics_model_and_checkpoint(store, client):
    import mlflow.pytorch

    cfg = tiny_cfg(ema_decay=0.5)
    result = train(cfg, store)

    run = client.get_run(result.run_id)
    tags, params = run.data.tags, run.data.params
    assert run.info.status == "FINISHED"
    assert tags["unisim.kind"] == "train" and tags["unisim.status"] == "success"
    assert tags["unisim.config_hash"] == config_hash(cfg) == result.config_hash
    assert tags["unisim.data_hash"] == result.data_hash == data_hash(cfg.data)
    assert tags["unisim.n_params"] == params["n_params"] == str(result.n_params) != "0"
    assert params.items() >= run_params(cfg).items()  # description and vast.* left out
    assert "description" not in params and not [k for k in params if k.startswith("vast.")]
    (dataset,) = [d.dataset for d in run.inputs.dataset_inputs]
    assert dataset.digest == result.data_hash
    assert f"_{result.data_hash}.hdf5" in dataset.source  # the cache file
    assert client.get_experiment(result.experiment_id).name == "unit"

    for key in CORE_METRICS:
        assert steps(client, result.run_id, key) == [1, 2, 3], key
    loss = values(client, result.run_id, "train/loss")
    assert loss[-1] < loss[0]
    val = values(client, result.run_id, "val/nrmse")
    assert result.best_val_nrmse == pytest.approx(min(val), rel=1e-9)
    assert result.best_epoch == 1 + int(np.argmin(val)) and result.epochs_run == EPOCHS

    # the best checkpoint: one dict with everything a resume needs, EMA weights included
    state = load_checkpoint(result.checkpoint_path)
    for key in ("model", "ema", "optimizer", "scheduler", "rng", "history", "config_hash"):
        assert state[key] is not None, key
    assert state["epoch"] == result.best_epoch and state["run_id"] == result.run_id
    artifacts = {a.path for a in client.list_artifacts(result.run_id, "checkpoints")}
    assert artifacts == {"checkpoints/best.pt"}

    # the logged model: loads back, takes another batch size and nu, equals the checkpoint,
    # and its val nRMSE (rollout, context excluded) is the logged best
    logged = mlflow.pytorch.load_model(result.model_uri)
    ckpt_model, ckpt_cfg = load_model_from_checkpoint(result.checkpoint_path)
    assert ckpt_cfg == cfg
    u = torch.randn(5, cfg.model.context, cfg.data.nx)  # the input example had batch 2
    with torch.no_grad():
        assert logged(u).shape == (5, cfg.data.nx)
        cond = torch.as_tensor(get_pde("burgers").conditioning([[cfg.data.nu]] * 5))
        assert torch.equal(logged(u, cond), ckpt_model(u))
        val_traj = tiny_splits(cfg).val
        pred = rollout(logged, torch.from_numpy(val_traj[:, :1]), val_traj.shape[1] - 1)
    assert nrmse(pred, val_traj[:, 1:]) == pytest.approx(result.best_val_nrmse, rel=1e-5)


def test_persistence_logs_a_zero_epoch_run_that_evaluates_as_a_baseline(store, client):
    import mlflow.pytorch

    cfg = tiny_cfg("persistence")
    result = train(cfg, store)
    assert result.epochs_run == 0 and result.n_params == 0
    assert client.get_run(result.run_id).info.status == "FINISHED"
    val = tiny_splits(cfg).val
    expected = nrmse(np.repeat(val[:, :1], val.shape[1] - 1, axis=1), val[:, 1:])
    assert values(client, result.run_id, "val/nrmse") == [pytest.approx(expected, rel=1e-6)]
    assert steps(client, result.run_id, "val/nrmse") == [0]
    model = mlflow.pytorch.load_model(result.model_uri)
    u = torch.randn(4, 1, cfg.data.nx)
    assert torch.equal(model(u), u[:, -1])


# ---------------------------------------------------------------- failures and stops


def test_time_budget_and_early_stopping_end_training_early(monkeypatch):
    seed_everything(0)
    cfg = tiny_cfg(epochs=10, max_time_s=1e-9)
    s = tiny_splits(cfg)
    fit = Trainer(cfg, build_model(cfg), s.train, s.val).fit()
    assert (fit.epochs_run, fit.stop_reason) == (1, "time_budget")

    cfg = tiny_cfg(epochs=10, early_stopping_patience=2)
    trainer = Trainer(cfg, build_model(cfg), s.train, s.val)
    scores = iter([0.5, 0.4, 0.45, 0.41, 0.3])  # best at epoch 2, then two worse epochs
    monkeypatch.setattr(trainer, "evaluate", lambda: {"val/nrmse": next(scores)})
    fit = trainer.fit()
    assert (fit.epochs_run, fit.stop_reason, fit.best_epoch) == (4, "early_stopping", 2)
    assert fit.best_val_nrmse == 0.4


# ---------------------------------------------------------------- resume


class Crash(Exception):
    pass


def _reference(cfg):
    """Final weights and val history of an uninterrupted run (no MLflow needed)."""
    seed_everything(cfg.seed)
    s = tiny_splits(cfg)
    trainer = Trainer(cfg, build_model(cfg), s.train, s.val)
    trainer.fit()
    return trainer.model.state_dict(), [h["val/nrmse"] for h in trainer.history]


def _assert_resumed_like_reference(cfg, client, result, first_run_id):
    ref_weights, ref_val = _reference(cfg)
    assert result.run_id == first_run_id and result.resumed
    run = client.get_run(result.run_id)
    assert run.info.status == "FINISHED" and run.data.tags["unisim.status"] == "success"
    assert "unisim.failure_reason" not in run.data.tags  # the crashed session's reason is gone
    final = load_checkpoint(result.last_checkpoint_path)
    assert final["finished"] and final["epoch"] == cfg.training.epochs
    for key, tensor in ref_weights.items():
        assert torch.equal(final["model"][key], tensor), key
    assert values(client, result.run_id, "val/nrmse") == ref_val
    for key in CORE_METRICS:  # no gap, no duplicate step
        history = [m.step for m in client.get_metric_history(result.run_id, key)]
        assert sorted(history) == list(range(1, cfg.training.epochs + 1)), key
    assert steps(client, result.run_id, "fit/best_val_nrmse") == [0]  # a scalar: no step


def test_resume_refills_an_epoch_checkpointed_but_never_sent(store, client, monkeypatch):
    """Crash between writing epoch 2's checkpoint and sending its metrics."""
    from unisim.training.mlflow_callback import MlflowCallback

    cfg = tiny_cfg()
    real = MlflowCallback.on_epoch_end

    def crash_at_2(self, trainer, epoch, metrics):
        if epoch == 2:
            raise Crash("killed before the metrics left")
        real(self, trainer, epoch, metrics)

    monkeypatch.setattr(MlflowCallback, "on_epoch_end", crash_at_2)
    with pytest.raises(Crash):
        train(cfg, store)
    monkeypatch.setattr(MlflowCallback, "on_epoch_end", real)
    (first,) = client.search_runs([client.get_experiment_by_name("unit").experiment_id])
    assert steps(client, first.info.run_id, "val/nrmse") == [1]  # epoch 2 never sent

    result = train(cfg, store, resume=True)
    _assert_resumed_like_reference(cfg, client, result, first.info.run_id)


def test_resume_skips_an_epoch_sent_but_not_checkpointed(store, client, tmp_path):
    """Crash after epoch 3's metrics were sent while its checkpoint was still being written."""
    from unisim.training.trainer import Callback

    cfg = tiny_cfg(epochs=4)
    saved = tmp_path / "saved"

    class KeepEpoch2ThenCrashAt3(Callback):
        def on_epoch_end(self, trainer, epoch, metrics):
            if epoch == 2:
                shutil.copytree(trainer.checkpoint_dir, saved)
            if epoch == 3:
                raise Crash("killed while writing epoch 3's checkpoint")

    with pytest.raises(Crash):
        train(cfg, store, callbacks=[KeepEpoch2ThenCrashAt3()])
    ckdir = tmp_path / "checkpoints" / config_hash(cfg)
    shutil.rmtree(ckdir)
    shutil.copytree(saved, ckdir)  # the disk as the kill left it: epoch 2 is the newest
    (first,) = client.search_runs([client.get_experiment_by_name("unit").experiment_id])
    assert steps(client, first.info.run_id, "val/nrmse") == [1, 2, 3]

    result = train(cfg, store, resume=True)
    _assert_resumed_like_reference(cfg, client, result, first.info.run_id)


@pytest.mark.parametrize(
    ("model", "training"),
    [
        ("fno", {"schedule": "onecycle", "rollout_grad": "pushforward", "ema_decay": 0.9}),
        ("latent", {"schedule": "constant", "loss_recon": 0.0, "grad_clip": None}),
    ],
)
def test_schedules_and_rollout_modes_train_and_round_trip_a_checkpoint(tmp_path, model, training):
    cfg = tiny_cfg(model, epochs=2, **training).model_copy(
        update={"model": tiny_cfg(model).model.model_copy(update={"context": 2})}
    )
    s = tiny_splits(cfg)
    seed_everything(0)
    trainer = Trainer(cfg, build_model(cfg), s.train, s.val, checkpoint_dir=tmp_path)
    trainer.fit()
    assert all(np.isfinite(h["train/loss"]) for h in trainer.history)
    state = load_checkpoint(tmp_path / "last.pt")  # weights_only: plain tensors and Python
    again = Trainer(cfg, build_model(cfg), s.train, s.val)
    again.load_state_dict(state)
    assert again.sched.state_dict() == trainer.sched.state_dict()
    assert again.opt.param_groups[0]["lr"] == trainer.opt.param_groups[0]["lr"]
    model_out, _ = load_model_from_checkpoint(tmp_path / "last.pt")
    u = torch.from_numpy(s.val[:, :2])
    with torch.no_grad():  # eval mode on both: the transformer has an eval-only fast path
        assert torch.equal(model_out(u), trainer.eval_model.eval()(u))  # EMA weights if on
