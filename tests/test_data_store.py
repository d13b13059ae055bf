"""Generated datasets: HDF5 layout, cache by data hash, atomic writes; PDEBench's files."""

from __future__ import annotations

import hashlib
import importlib.util
import os
from pathlib import Path

import h5py
import numpy as np
import pytest

from unisim.config import DataConfig, InitialConditionConfig, data_config_hash
from unisim.data import BurgersSplits, data_hash, load_data
from unisim.data import store as data_store
from unisim.data.info import describe
from unisim.errors import UnisimError

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "1D_Burgers_Sols_Nu0.1.hdf5"
# nu=0.2 keeps 64 solver points enough for any initial condition of the family
TINY = {"nu": 0.2, "nx": 32, "solver_nx": 64, "nt": 6, "t_final": 0.5}
TINY.update(n_train=4, n_val=2, n_test=2)


def tiny(**over) -> DataConfig:
    return DataConfig(**{**TINY, **over})


def pdebench_cfg(**over) -> DataConfig:
    base = dict(source="pdebench", path=str(FIXTURE), nu=0.1, nx=64, nt=21)
    base.update(downsample_x=4, downsample_t=5, n_train=3, n_val=1, n_test=2)
    return DataConfig(**{**base, **over})


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.endswith(".lock"))


def test_generate_writes_pdebench_layout_and_returns_splits():
    cfg = tiny()
    seen = []
    splits = load_data(cfg, progress=lambda done, total: seen.append((done, total)))
    assert isinstance(splits, BurgersSplits)
    assert splits.train.shape == (4, 6, 32) and splits.train.dtype == np.float32
    assert splits.val.shape == (2, 6, 32) and splits.test.shape == (2, 6, 32)
    np.testing.assert_allclose(splits.x, (np.arange(32) + 0.5) / 32, atol=1e-7)
    np.testing.assert_allclose(splits.t, np.linspace(0, 0.5, 6), atol=1e-7)
    assert splits.nu == 0.2
    assert len(splits.data_hash) == 16 and int(splits.data_hash, 16) >= 0
    assert splits.path == Path("data/cache") / f"burgers_nu0.2_{splits.data_hash}.hdf5"
    assert seen and seen[-1] == (8 * 5, 8 * 5)  # trajectories x stored time intervals

    with h5py.File(splits.path, "r") as f:
        assert f["tensor"].shape == (8, 6, 32)
        assert f["x-coordinate"].shape == (32,) and f["t-coordinate"].shape == (6,)
        # splits are index ranges: train, then val, then test
        np.testing.assert_array_equal(f["tensor"][:4], splits.train)
        np.testing.assert_array_equal(f["tensor"][4:6], splits.val)
        np.testing.assert_array_equal(f["tensor"][6:], splits.test)
        attrs = dict(f.attrs)
    for key in ("nx", "nt", "t_final", "solver_nx", "seed", "n_train", "n_val", "n_test"):
        assert attrs[key] == cfg.model_dump()[key], key
    assert (
        attrs["nu"] == 0.2
        and attrs["pde"] == "burgers"
        and "coefficients" not in f_keys(splits.path)
    )  # a fixed coefficient is an attribute (PDEBench's readers), not a per-row table
    for key, value in cfg.equation.ic.model_dump().items():
        assert attrs[f"equation.ic.{key}"] == value
    assert attrs["data_hash"] == splits.data_hash and attrs["solver_version"]
    assert os.stat(splits.path).st_mode & 0o644 == 0o644


def f_keys(path) -> set[str]:
    with h5py.File(path, "r") as f:
        return set(f)


def test_second_load_reuses_the_cache_file():
    first = load_data(tiny())
    mtime = first.path.stat().st_mtime_ns
    calls = []
    again = load_data(tiny(), progress=lambda *a: calls.append(a))
    assert calls == [] and again.path.stat().st_mtime_ns == mtime
    np.testing.assert_array_equal(again.train, first.train)
    # a different cache_dir is a different place, not different data
    other = load_data(tiny(cache_dir="elsewhere"))
    assert other.data_hash == first.data_hash
    assert other.path.read_bytes() == first.path.read_bytes()


def test_same_seed_same_bytes_other_seed_other_data(monkeypatch):
    a = load_data(tiny(cache_dir="a"))
    monkeypatch.setenv("UNISIM_DATA_WORKERS", "1")  # thread count does not change the bytes
    b = load_data(tiny(cache_dir="b"))
    assert (
        hashlib.sha256(a.path.read_bytes()).digest() == hashlib.sha256(b.path.read_bytes()).digest()
    )
    c = load_data(tiny(cache_dir="c", seed=1))
    assert c.data_hash != a.data_hash and not np.array_equal(c.train, a.train)


def test_data_hash_follows_the_data_config_and_the_solver_version(monkeypatch):
    base = data_hash(tiny())
    assert data_hash(tiny(cache_dir="x")) == base
    assert data_hash(tiny(nu=0.3)) != base
    assert data_hash(tiny(ic=InitialConditionConfig(p_abs=0.5))) != base
    assert data_hash(tiny(n_test=3)) != base
    assert data_config_hash(tiny()) == data_config_hash(tiny(cache_dir="x"))
    monkeypatch.setattr(data_store, "SOLVER_VERSION", "999")
    assert data_hash(tiny()) != base


def test_downsampling_generated_data():
    splits = load_data(tiny(downsample_x=2, downsample_t=2))
    assert splits.train.shape == (4, 3, 16)
    np.testing.assert_allclose(splits.t, [0.0, 0.2, 0.4], atol=1e-7)
    full = load_data(tiny())
    np.testing.assert_array_equal(splits.train, full.train[:, ::2, ::2])


def test_interrupted_generation_leaves_no_file():
    def interrupt(done, total):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        load_data(tiny(), progress=interrupt)
    assert _files(Path("data/cache")) == []  # no data file, no temp file
    assert load_data(tiny()).train.shape == (4, 6, 32)  # and the next run starts clean


def test_too_coarse_grid_writes_nothing():
    with pytest.raises(UnisimError, match=r"it needs data.solver_nx >= \d+") as err:
        load_data(tiny(nu=0.001))
    assert "\n" not in str(err.value)
    assert not Path("data").exists()


def test_foreign_file_at_the_cache_path_is_not_trusted():
    cfg = tiny()
    path = data_store.cache_path(cfg)
    path.parent.mkdir(parents=True)
    with h5py.File(path, "w") as f:
        f["tensor"] = np.zeros((8, 6, 32), np.float32)
        f["x-coordinate"] = np.zeros(32, np.float32)
        f["t-coordinate"] = np.zeros(6, np.float32)
        f.attrs.update(n_train=4, n_val=2, n_test=2, data_hash="0" * 16)
    with pytest.raises(UnisimError, match="delete the file"):
        load_data(cfg)


def test_describe_reports_shapes_nu_and_physics():
    # stored on the solver grid itself, so only float32 rounding moves the mean (point
    # samples of a finer solution also alias: ~3e-4 on the golden 1024 -> 128 grid)
    splits = load_data(tiny(nu=0.3, solver_nx=32))
    info = describe(splits.path)
    assert info["shape"] == [8, 6, 32] and info["nu"] == 0.3
    assert info["splits"] == {"n_train": 4, "n_val": 2, "n_test": 2}
    stats = info["stats"]
    assert stats["nonfinite"] == 0
    assert stats["energy_final"] < stats["energy_t0"]
    assert stats["max_energy_increase"] < 1e-6
    assert stats["max_mean_drift"] < 1e-6


def test_lineage_pieces_log_as_an_mlflow_dataset_input(store, client):
    from unisim.tracking import TAG_DATA_HASH, start_run

    splits = load_data(tiny())
    with start_run(kind="train", experiment="lineage", target=store) as run:
        run.log_dataset(**splits.lineage())
    got = client.get_run(run.run_id)
    dataset = got.inputs.dataset_inputs[0].dataset
    assert dataset.digest == splits.data_hash and dataset.name == splits.path.stem
    assert str(splits.path.resolve()) in dataset.source
    assert got.data.tags[TAG_DATA_HASH] == splits.data_hash


# ---------------------------------------------------------------- PDEBench files


def test_pdebench_fixture_with_baseline_downsampling():
    splits = load_data(pdebench_cfg())
    assert splits.train.shape == (3, 5, 16)  # 64 points / 4, 21 times / 5 (0, 5, ..., 20)
    assert splits.val.shape == (1, 5, 16) and splits.test.shape == (2, 5, 16)
    assert splits.nu == 0.1 and splits.path == FIXTURE
    with h5py.File(FIXTURE, "r") as f:
        assert f["t-coordinate"].shape == (22,)  # PDEBench writes T + 1 times
        np.testing.assert_array_equal(splits.x, f["x-coordinate"][::4])
        np.testing.assert_array_equal(splits.test, f["tensor"][4:6, ::5, ::4])
    np.testing.assert_allclose(splits.t, [0.0, 0.5, 1.0, 1.5, 2.0], atol=1e-6)


def test_pdebench_hash_is_the_content_plus_what_is_read(tmp_path):
    h = data_hash(pdebench_cfg())
    assert len(h) == 16 and h == data_hash(pdebench_cfg())
    assert Path("data/cache/pdebench_digests.json").is_file()  # remembered by path+size+mtime
    assert data_hash(pdebench_cfg(n_train=2)) != h
    copy = tmp_path / "copy" / FIXTURE.name
    copy.parent.mkdir()
    copy.write_bytes(FIXTURE.read_bytes())
    assert data_hash(pdebench_cfg(path=str(copy))) == h  # same bytes, same hash
    with h5py.File(copy, "r+") as f:
        f["tensor"][0, 0, 0] += 1.0
    assert data_hash(pdebench_cfg(path=str(copy))) != h


@pytest.mark.parametrize(
    ("over", "match"),
    [
        ({"n_train": 5}, "but .* has 6"),  # 5 + 1 + 2 > 6 trajectories
        ({"nu": 0.01}, "holds nu=0.1"),
        ({"nx": 128, "downsample_x": 4}, "set data.nx=64 data.nt=21"),
        ({"path": "missing.hdf5"}, "file not found"),
    ],
)
def test_pdebench_bad_input(over, match):
    with pytest.raises(UnisimError, match=match) as err:
        load_data(pdebench_cfg(**over))
    assert "\n" not in str(err.value)


def test_hdf5_without_tensor_is_refused(tmp_path):
    path = tmp_path / "1D_Burgers_Sols_Nu0.1.hdf5"
    with h5py.File(path, "w") as f:
        f["x-coordinate"] = np.zeros(8)
    with pytest.raises(UnisimError, match="no 'tensor' dataset"):
        load_data(pdebench_cfg(path=str(path)))


def test_fixture_is_reproduced_by_its_script(tmp_path):
    script = FIXTURE.parent / "make_pdebench_fixture.py"
    spec = importlib.util.spec_from_file_location("make_pdebench_fixture", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    made = module.make(tmp_path)
    assert FIXTURE.stat().st_size < 200_000
    with h5py.File(made, "r") as new, h5py.File(FIXTURE, "r") as old:
        for name in ("tensor", "x-coordinate", "t-coordinate"):
            np.testing.assert_allclose(new[name][:], old[name][:], rtol=0, atol=1e-6)
