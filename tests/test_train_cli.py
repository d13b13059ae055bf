"""``unisim train`` on bad input: one line on stderr, exit 2, no run, no checkpoint.

Covers the config checks (unknown model, tokens that do not divide the grid,
batch size 0), resuming with nothing to resume, with a config whose hash differs
from the checkpoint's, a finished run, and ``--resume-run`` with another config.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml
from test_training import tiny_cfg  # tests/ is on sys.path

from unisim.config import to_dict
from unisim.training import train_model


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def write_cfg(path: Path, cfg) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(to_dict(cfg)))
    return path


def all_runs(client) -> list:
    ids = [e.experiment_id for e in client.search_experiments()]
    return client.search_runs(ids) if ids else []


def assert_one_line_error(code: int, err: str, needle: str) -> None:
    assert code == 2, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert needle in lines[0], err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        (["model.name=unet"], "model.name"),
        (["model.latent.tokens=5"], "must divide the grid"),
        (["training.batch_size=0"], "training.batch_size"),
    ],
)
def test_bad_config_is_one_line_exit_2_before_any_run(cli, client, tmp_path, overrides, needle):
    path = write_cfg(tmp_path / "cfg.yaml", tiny_cfg())
    args = [a for item in overrides for a in ("--set", item)]
    code, _, err = cli("train", path, *args, "--no-progress")
    assert_one_line_error(code, err, needle)
    assert all_runs(client) == []
    assert not (tmp_path / "checkpoints").exists()


def test_resume_with_nothing_to_resume(cli, client, tmp_path):
    path = write_cfg(tmp_path / "cfg.yaml", tiny_cfg())
    code, _, err = cli("train", path, "--resume", "--no-progress")
    assert_one_line_error(code, err, "no checkpoint for config hash")
    assert all_runs(client) == []


def _first_run(cfg, path, store):
    return train_model(cfg, path, target=store, show_progress=False)


def test_resume_with_a_changed_config_names_both_hashes(cli, client, store, tmp_path):
    cfg = tiny_cfg(epochs=1)
    path = write_cfg(tmp_path / "experiments" / "2026-11-29-tiny" / "config.yaml", cfg)
    first = _first_run(cfg, path, store)
    ckpt = Path(first.checkpoint_path)
    assert ckpt.parent == path.parent / "checkpoints"  # experiment folders keep their own
    assert client.get_experiment(first.experiment_id).name == "2026-11-29-tiny"

    code, _, err = cli("train", path, "--set", "training.lr=0.01", "--resume", "--no-progress")
    assert_one_line_error(code, err, f"config hash {first.config_hash}")
    assert len(all_runs(client)) == 1

    # the same config: that run already finished, so there is nothing to continue
    code, _, err = cli("train", path, "--resume", "--no-progress")
    assert_one_line_error(code, err, "already finished")
    assert len(all_runs(client)) == 1


def test_resume_run_with_another_config_is_refused(cli, client, store, tmp_path):
    cfg = tiny_cfg(epochs=1)
    path = write_cfg(tmp_path / "cfg.yaml", cfg)
    first = _first_run(cfg, path, store)
    code, _, err = cli(
        "train", path, "--set", "seed=7", "--resume-run", first.run_id, "--no-progress"
    )
    assert_one_line_error(code, err, f"run was trained with config hash {first.config_hash}")
    code, _, err = cli("train", path, "--resume-run", "0" * 32, "--no-progress")
    assert_one_line_error(code, err, "no such run")
    assert len(all_runs(client)) == 1


def test_train_cli_trains_logs_and_writes_the_result_json(cli, client, tmp_path):
    import json

    path = write_cfg(tmp_path / "cfg.yaml", tiny_cfg(epochs=2))
    code, out, err = cli("train", path, "--result-json", "result.json", "--no-progress")
    assert code == 0, err
    result = json.loads((tmp_path / "result.json").read_text())  # a pipeline StageOutcome
    assert result["name"] == "train" and f"train run {result['run_id']}" in out
    info = result["info"]
    assert info["model_uri"] == f"runs:/{result['run_id']}/model"
    assert info["epochs_run"] == 2 and Path(info["checkpoint_path"]).is_file()
    (run,) = all_runs(client)
    assert run.info.run_id == result["run_id"] and run.info.status == "FINISHED"


def test_nan_loss_exits_1_with_one_line_and_a_failed_run(cli, client, tmp_path, monkeypatch):
    from unisim.training import objective

    real, calls = objective.relative_rmse, {"n": 0}

    def poisoned(pred, target):  # a few good steps, then NaN
        calls["n"] += 1
        return real(pred, target) * (float("nan") if calls["n"] > 6 else 1.0)

    monkeypatch.setattr(objective, "relative_rmse", poisoned)
    path = write_cfg(tmp_path / "cfg.yaml", tiny_cfg())
    code, _, err = cli("train", path, "--no-progress")
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 1 and len(lines) == 1, err
    assert lines[0].startswith("error: non-finite training loss (nan) at epoch")
    (run,) = all_runs(client)
    assert run.info.status == "FAILED"
    assert run.data.tags["unisim.status"] == "failed"
    assert run.data.tags["unisim.failure_reason"].startswith("NonFiniteLoss: non-finite")
