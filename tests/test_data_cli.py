"""``unisim data generate`` and ``unisim data info`` through the in-process CLI."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "1D_Burgers_Sols_Nu0.1.hdf5"
TINY = {
    "name": "tiny",
    "data": {"nu": 0.2, "nx": 32, "solver_nx": 64, "nt": 6, "t_final": 0.5},
    "model": {"latent": {"tokens": 8}},
}
TINY["data"].update(n_train=4, n_val=2, n_test=2)


@pytest.fixture
def config() -> Path:
    path = Path("tiny.yaml")
    path.write_text(yaml.safe_dump(TINY))
    return path


def _data_files() -> list[Path]:
    cache = Path("data/cache")
    return sorted(cache.glob("*.hdf5")) + sorted(cache.glob(".tmp-*")) if cache.exists() else []


def test_generate_then_reuse_then_info(cli, config):
    code, out, err = cli("data", "generate", config)
    assert code == 0, err
    (path,) = _data_files()
    assert "generated in" in out and str(path) in out and "data_hash" in out
    assert "solving Burgers" in err and "100%" in err  # the progress bar, on stderr

    code, out, err = cli("data", "generate", config)
    assert code == 0 and "reused (cached)" in out and "solving" not in err

    code, out, _ = cli("data", "info", path)
    assert code == 0
    assert "8 trajectories x 6 times x 32 points" in out
    assert "nu          0.2" in out and "train 4, val 2, test 2" in out
    assert "max drift" in out and "mean_x u^2" in out


def test_generate_with_overrides_and_force(cli, config):
    code, out, _ = cli("data", "generate", config, "--set", "data.seed=3", "--no-progress")
    assert code == 0
    (path,) = _data_files()
    with h5py.File(path, "r") as f:
        assert f.attrs["seed"] == 3
    before = path.stat().st_mtime_ns
    code, out, _ = cli("data", "generate", config, "--set", "data.seed=3", "--force")
    assert code == 0 and "generated in" in out and path.stat().st_mtime_ns >= before


def test_info_json_on_a_pdebench_file(cli):
    import json

    code, out, _ = cli("data", "info", FIXTURE, "--json")
    assert code == 0
    info = json.loads(out)
    assert info["shape"] == [6, 21, 64] and info["nu"] == 0.1 and info["nu_from"] == "file name"
    assert info["splits"] is None


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("data.nu=0", "data.equation.nu: 0 is outside the allowed range"),
        ("data.nu=-1", "data.equation.nu: -1 is outside the allowed range"),
        ("data.equation.nu=0.001", "it needs data.solver_nx >= "),  # shocks too thin for 64
        ("data.solver_nx=100", "solver_nx must be a multiple of nx"),
        ("data.n_val=0", "data.n_val: must be >= 1"),
        ("data.downsample_x=3", "downsample_x must divide nx"),
    ],
)
def test_generate_bad_input_is_one_line_exit_2_no_file(cli, config, override, message):
    code, out, err = cli("data", "generate", config, "--set", override)
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert _data_files() == []


def test_generate_refuses_a_pdebench_source(cli, config):
    code, _, err = cli(
        "data", "generate", config, "--set", "data.source=pdebench", "--set", f"data.path={FIXTURE}"
    )
    assert code == 2 and "nothing to generate" in err


def test_info_bad_files_exit_2(cli, tmp_path):
    no_tensor = tmp_path / "no_tensor.hdf5"
    with h5py.File(no_tensor, "w") as f:
        f["x-coordinate"] = np.zeros(8)
    bad_splits = tmp_path / "bad_splits.hdf5"
    with h5py.File(bad_splits, "w") as f:
        f["tensor"] = np.zeros((5, 3, 8), np.float32)
        f["x-coordinate"] = np.zeros(8)
        f["t-coordinate"] = np.zeros(3)
        f.attrs.update(n_train=4, n_val=2, n_test=2)
    not_hdf5 = tmp_path / "notes.txt"
    not_hdf5.write_text("hello")
    for path, message in [
        (no_tensor, "no 'tensor' dataset"),
        (bad_splits, "do not add up to the 5 trajectories"),
        (not_hdf5, "not an HDF5 file"),
        (tmp_path / "missing.hdf5", "file not found"),
    ]:
        code, _, err = cli("data", "info", path)
        assert code == 2 and message in err and len(err.strip().splitlines()) == 1, err
