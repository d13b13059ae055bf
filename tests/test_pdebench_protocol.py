"""The PDEBench protocol config (issue 17): 10 context frames, 31 scored steps, nRMSE with
the context excluded, on PDEBench's own file layout (the shipped small fixture)."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from unisim.config import load_config

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "pdebench_burgers_nu0.01.yaml"
FIXTURE = Path(__file__).resolve().parent / "fixtures" / "1D_Burgers_Sols_Nu0.01.hdf5"

# The fixture holds (6, 201, 32): PDEBench's whole time axis on a 32-point grid.
ON_FIXTURE = [
    "--set", "data.source=pdebench",
    "--set", f"data.path={FIXTURE}",
    "--set", "data.nx=32",
    "--set", "data.nt=201",
    "--set", "data.downsample_x=4",
    "--set", "data.downsample_t=5",
    "--set", "data.n_train=4",
    "--set", "data.n_val=1",
    "--set", "data.n_test=1",
    "--set", "model.fno.modes=4",
    "--set", "training.epochs=1",
    "--set", "training.batch_size=4",
]  # fmt: skip


def pdebench_metric_func_nrmse(pred: np.ndarray, target: np.ndarray, initial_step: int) -> float:
    """PDEBench's ``metric_func`` (pdebench/models/metrics.py), its nRMSE output, in NumPy.

    Inputs in PDEBench's 1D layout (batch, x, t, channels). The input frames are sliced
    off, then per sample, channel and time: RMSE over x divided by the RMS of the target
    over x; the mean over the batch, then over channels and times.
    """
    pred, target = pred[..., initial_step:, :], target[..., initial_step:, :]
    pred, target = pred.transpose(0, 3, 1, 2), target.transpose(0, 3, 1, 2)  # (b, c, x, t)
    err_mean = np.sqrt(np.mean((pred - target) ** 2, axis=2))  # (b, c, t)
    nrm = np.sqrt(np.mean(target**2, axis=2))
    err_nrmse = np.mean(err_mean / nrm, axis=0)  # (c, t)
    return float(np.mean(err_nrmse))


def test_the_config_is_pdebench_protocol() -> None:
    cfg = load_config(CONFIG)
    d = cfg.data
    assert (d.solver_nx, d.nx, d.nt, d.t_final, d.nu) == (1024, 256, 41, 2.0, 0.01)
    assert cfg.model.context == 10 and d.nt - cfg.model.context == 31  # 31 rollout steps
    assert (cfg.model.name, cfg.model.fno.modes, cfg.model.fno.width) == ("fno", 12, 20)


def test_pdebench_file_gives_10_context_frames_and_31_scored_steps(store, client, cli) -> None:
    code, out, err = cli("train", str(CONFIG), *ON_FIXTURE, "--no-progress")
    assert code == 0, out + err
    (train,) = client.search_runs(
        [client.get_experiment_by_name("pdebench-burgers-nu0.01").experiment_id],
        "tags.`unisim.kind` = 'train'",
    )
    code, out, err = cli("evaluate", train.info.run_id, "--split", "test")
    assert code == 0, out + err
    (ev,) = client.search_runs(
        [train.info.experiment_id], "tags.`unisim.kind` = 'evaluate'", max_results=5
    )
    report = json.loads(Path(client.download_artifacts(ev.info.run_id, "report.json")).read_text())
    curve = report["error_curve"]
    assert all(len(v) == 31 for v in curve.values())  # 41 stored times - 10 context frames

    # Persistence repeats the last context frame; score it with PDEBench's own formula on
    # the file read directly (test = the 6th trajectory; x4 in space, x5 in time).
    with h5py.File(FIXTURE, "r") as f:
        truth = np.asarray(f["tensor"][5:6, ::5, ::4], dtype=np.float64)  # (1, 41, 8)
    assert truth.shape == (1, 41, 8)
    pred = truth.copy()
    pred[:, 10:] = truth[:, 9:10]
    expected = pdebench_metric_func_nrmse(
        pred.transpose(0, 2, 1)[..., None], truth.transpose(0, 2, 1)[..., None], initial_step=10
    )
    got = report["baselines"]["persistence"]["metrics"]["final_nrmse"]
    assert got == pytest.approx(expected, rel=1e-5)  # float32 file, float64 transcription
    assert got != pytest.approx(  # the context frames (error 0) are not averaged in
        pdebench_metric_func_nrmse(
            pred.transpose(0, 2, 1)[..., None], truth.transpose(0, 2, 1)[..., None], 1
        ),
        rel=1e-3,
    )
