"""SIGKILL in the middle of ``unisim train``, then ``--resume``: as if nothing happened.

A real subprocess is killed with SIGKILL right after its first checkpoint
appears; ``unisim train --resume`` continues the same MLflow run. The final
weights and the val nRMSE history equal those of an uninterrupted run
(deterministic CPU, one thread), and every metric has each epoch exactly once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from conftest import subprocess_env
from test_training import CORE_METRICS, tiny_cfg

from unisim.config import config_hash, to_dict

EPOCHS = 8


def _env(store) -> dict[str, str]:
    env = subprocess_env()
    env.update(MLFLOW_TRACKING_URI=store.uri, OMP_NUM_THREADS="1")
    return env


def _train_cmd(cfg_path: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "unisim", "train", str(cfg_path), "--no-progress", *extra]


def _setup(folder: Path, cfg) -> Path:
    folder.mkdir()
    path = folder / "cfg.yaml"
    path.write_text(yaml.safe_dump(to_dict(cfg)))
    return path


@pytest.mark.slow
def test_sigkill_then_resume_matches_an_uninterrupted_run(store, client, tmp_path):
    cfg = tiny_cfg(epochs=EPOCHS)
    env = _env(store)

    ref_cfg = _setup(tmp_path / "ref", cfg)
    subprocess.run(_train_cmd(ref_cfg), cwd=ref_cfg.parent, env=env, check=True, timeout=600)

    cfg_path = _setup(tmp_path / "killed", cfg)
    ckdir = cfg_path.parent / "checkpoints" / config_hash(cfg)
    proc = subprocess.Popen(
        _train_cmd(cfg_path), cwd=cfg_path.parent, env=env, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 600
    while not (ckdir / "last.pt").exists():  # the first checkpoint (epoch 1)
        assert proc.poll() is None, proc.stderr.read().decode()
        assert time.monotonic() < deadline
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL
    killed_epoch = torch.load(ckdir / "last.pt", weights_only=True)["epoch"]
    assert killed_epoch < EPOCHS  # it really died mid-training

    runs = client.search_runs([client.get_experiment_by_name("unit").experiment_id])
    (killed,) = [r for r in runs if r.info.status == "RUNNING"]
    (ref,) = [r for r in runs if r.info.status == "FINISHED"]

    done = subprocess.run(
        _train_cmd(cfg_path, "--resume"),
        cwd=cfg_path.parent, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"train run {killed.info.run_id}" in done.stdout  # the same run continued
    run = client.get_run(killed.info.run_id)
    assert run.info.status == "FINISHED" and run.data.tags["unisim.status"] == "success"
    assert len(client.search_runs([run.info.experiment_id])) == 2  # ref + resumed

    final = torch.load(ckdir / "last.pt", weights_only=True)
    ref_final = torch.load(
        ref_cfg.parent / "checkpoints" / config_hash(cfg) / "last.pt", weights_only=True
    )
    assert final["epoch"] == ref_final["epoch"] == EPOCHS
    for key, tensor in ref_final["model"].items():
        assert torch.equal(final["model"][key], tensor), key

    def history(run_id: str, key: str) -> list[tuple[int, float]]:
        return sorted((m.step, m.value) for m in client.get_metric_history(run_id, key))

    assert history(run.info.run_id, "val/nrmse") == history(ref.info.run_id, "val/nrmse")
    for key in CORE_METRICS:  # no gap, no duplicate step
        steps = [s for s, _ in history(run.info.run_id, key)]
        assert steps == list(range(1, EPOCHS + 1)), key
