"""``unisim train --nproc 2``: two CPU workers under torchrun (gloo), one MLflow run.

Only rank 0 talks to MLflow and writes checkpoints; DistributedSampler shards
the windows; the loss still goes down.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml
from conftest import subprocess_env
from test_training import tiny_cfg

from unisim.config import config_hash, to_dict


@pytest.mark.slow
def test_two_gloo_workers_make_exactly_one_run_and_learn(store, client, tmp_path):
    cfg = tiny_cfg(epochs=3)
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(to_dict(cfg)))
    env = subprocess_env()
    env.update(MLFLOW_TRACKING_URI=store.uri, OMP_NUM_THREADS="1")

    done = subprocess.run(
        [sys.executable, "-m", "unisim", "train", str(path), "--nproc", "2", "--no-progress"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]

    experiments = [e.experiment_id for e in client.search_experiments()]
    (run,) = client.search_runs(experiments)
    assert run.info.status == "FINISHED"
    assert run.data.tags["unisim.world_size"] == "2"
    loss = [m.value for m in sorted(client.get_metric_history(run.info.run_id, "train/loss"),
                                    key=lambda m: m.step)]  # fmt: skip
    assert len(loss) == 3 and loss[-1] < loss[0]
    ckdir = tmp_path / "checkpoints" / config_hash(cfg)
    assert sorted(p.name for p in ckdir.iterdir()) == ["best.pt", "last.pt"]
