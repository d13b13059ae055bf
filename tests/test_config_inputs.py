"""Bad input fails at load, in one line naming where (file or --set), the key and the value.

Covers gate metric names, duplicate YAML keys, booleans for numbers, cross-field checks
blamed on --set, a missing include, data too big for memory and one model section per
config; through ``load_config`` and through the CLI (``main([...])`` returns the code).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from unisim.config import build_config, flatten, load_config
from unisim.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
GOLDEN = REPO / "configs" / "train_burgers_golden.yaml"
TINY = "data:\n  nx: 32\n  solver_nx: 256\n  nt: 11\n"
BAD_GATE = "gates.metrics=[{metric: final_nrmsee, threshold: 0.1}]"
HUGE = "data.n_train=1000000000000"  # 1e12 trajectories: petabytes on any machine


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def one_line(cli, *args: str) -> str:
    code, out, err = cli(*args)
    assert code == 2, (out, err)
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in out + err, err
    return err.strip()


def load_error(path: Path, overrides: list[str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path, overrides)
    message = str(info.value)
    assert "\n" not in message
    return message


# ---------------------------------------------------------------- gate metric names


def test_unknown_gate_metric_from_set_is_blamed_on_set(cli):
    err = one_line(cli, "configs", "validate", str(GOLDEN), "--set", BAD_GATE)
    assert "--set: gates.metrics.0.metric: unknown metric 'final_nrmsee'" in err
    assert "did you mean 'final_nrmse'?" in err


def test_unknown_gate_metric_in_the_file_names_the_file(tmp_path):
    path = write(tmp_path / "g.yaml", "gates:\n  metrics:\n    - {metric: nrmse, threshold: 1}\n")
    message = load_error(path)
    assert message.startswith(f"{path}: gates.metrics.0.metric: unknown metric 'nrmse'")
    assert "(got 'nrmse')" in message


@pytest.mark.parametrize("override", [BAD_GATE, HUGE], ids=["gate-metric", "memory"])
def test_run_refuses_before_any_run_store_or_data(cli, override, tmp_path):
    """conftest runs each test in its own empty folder with no tracking URI: the
    default store would be ./mlruns and the data cache ./data/cache."""
    before = sorted(os.listdir(tmp_path))
    err = one_line(cli, "run", str(GOLDEN), "--set", override)
    assert err.startswith("error: --set: ")
    assert not Path("mlruns").exists() and not Path("data").exists()
    assert sorted(os.listdir(tmp_path)) == before


# ---------------------------------------------------------------- YAML and types


def test_duplicate_keys_are_refused_with_their_line(tmp_path, cli):
    path = write(tmp_path / "d.yaml", "training:\n  lr: 0.1\n  epochs: 2\n  lr: 0.3\n")
    assert load_error(path) == f"{path}: line 4: duplicate key 'lr' (first at line 2)"
    err = one_line(cli, "configs", "validate", str(path))
    assert err.endswith("duplicate key 'lr' (first at line 2)")
    nested = write(tmp_path / "n.yaml", "gates:\n  metrics:\n    - {metric: a, metric: b}\n")
    assert "line 3: duplicate key 'metric'" in load_error(nested)
    with pytest.raises(ConfigError, match=r"--set gates\.metrics: duplicate key 'metric'"):
        build_config({}, ["gates.metrics=[{metric: final_nrmse, metric: crmse}]"])
    # the same key in two different mappings is fine
    fine = write(tmp_path / "f.yaml", "training:\n  epochs: 2\nevaluation:\n  batch_size: 2\n")
    assert load_config(fine).training.epochs == 2


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("training:\n  epochs: true\n", "training.epochs"),
        ("training:\n  lr: false\n", "training.lr"),
        ("training:\n  grad_clip: true\n", "training.grad_clip"),  # float | None
        ("model:\n  latent:\n    ffn: true\n", "model.latent.ffn"),  # int | None
        ("seed: true\n", "seed"),
    ],
)
def test_a_boolean_is_not_a_number(tmp_path, cli, text, key):
    path = write(tmp_path / "b.yaml", text)
    value = "True" if "true" in text else "False"
    expected = f"{path}: {key}: must be a number, not a boolean (got {value})"
    assert load_error(path) == expected
    assert one_line(cli, "configs", "validate", str(path)) == f"✗ {expected}"


def test_booleans_still_set_boolean_keys():
    cfg = build_config({}, ["training.amp=false", "model.condition=false"])
    assert cfg.training.amp is False and cfg.model.condition is False
    old = build_config({}, ["model.condition_nu=false"])  # the name before the PDE seam
    assert old.model.condition is False


# ---------------------------------------------------------------- cross-field checks


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (["data.solver_nx=511"], "--set: data.solver_nx: solver_nx must be a multiple of nx"),
        (["data.nx=100"], "--set: data.nx: solver_nx must be a multiple of nx"),
        (["data.nx=9", "data.solver_nx=261"], "--set: data.solver_nx: solver_nx must be even"),
        (["model.latent.tokens=5"], "--set: model.latent.tokens: model.latent.tokens=5 must"),
        (["data.nt=4"], "--set: data.nt: model.context=4 leaves no step to predict"),
        (["model.name=fno", "model.fno.modes=99"], "--set: model.fno.modes: model.fno.modes=99"),
    ],
)
def test_cross_field_errors_name_the_key_and_blame_set(tmp_path, overrides, expected):
    path = write(tmp_path / "c.yaml", "model:\n  context: 4\n")
    assert load_error(path, overrides).startswith(expected)


def test_cross_field_errors_from_the_file_name_the_file_and_key(tmp_path, cli):
    path = write(tmp_path / "c.yaml", "data:\n  nx: 100\n")
    message = load_error(path)
    assert message.startswith(f"{path}: data.solver_nx: solver_nx must be a multiple of nx")
    args = ("configs", "validate", str(GOLDEN), "--set", "data.solver_nx=511")
    assert one_line(cli, *args).startswith("✗ --set: data.solver_nx: ")


# ---------------------------------------------------------------- include and memory


def test_a_missing_include_names_the_including_config(tmp_path, cli):
    write(tmp_path / "configs" / "x.yaml", "include: nothere.yaml\n")
    err = one_line(cli, "configs", "validate", "configs/x.yaml")
    assert err == "✗ configs/x.yaml: include: nothere.yaml: file not found"


def test_data_that_cannot_fit_in_memory_is_refused_with_the_estimate(tmp_path, cli):
    err = one_line(cli, "configs", "validate", str(GOLDEN), "--set", HUGE)
    assert err.startswith("✗ --set: data.n_train: needs about ")
    assert "1000000000096 trajectories x 41 times x 128 points x 4 bytes" in err
    assert "GiB are available (got 1000000000000)" in err
    path = write(tmp_path / "big.yaml", "data:\n  n_test: 1000000000000\n")
    assert load_error(path).startswith(f"{path}: data: needs about ")
    # a config that runs elsewhere (a rented GPU) skips the check
    assert load_config(path, check_memory=False).data.n_test == 10**12


# ---------------------------------------------------------------- one model section


def test_a_section_of_another_architecture_is_refused(tmp_path, cli):
    path = write(tmp_path / "m.yaml", TINY + "model:\n  latent: {dim: 8}\n  fno: {modes: 4}\n")
    expected = f"{path}: model.fno: a section of model 'fno', but model.name is 'latent'"
    assert load_error(path) == f"{expected} (got {{'modes': 4}})"
    assert one_line(cli, "configs", "validate", str(path)).startswith(f"✗ {expected}")


def test_set_model_name_switches_architecture_and_drops_the_old_section(tmp_path, cli):
    cfg = load_config(GOLDEN, ["model.name=fno", "model.fno.width=32"])
    assert cfg.model.name == "fno" and cfg.model.fno.width == 32
    assert not hasattr(cfg.model, "latent")
    assert not any(k.startswith("model.latent.") for k in flatten(cfg))
    code, out, _ = cli("configs", "validate", str(GOLDEN), "--set", "model.name=fno")
    assert code == 0 and "config_hash" in out
    # a section of the old architecture given with --set itself is still refused
    message = load_error(GOLDEN, ["model.name=fno", "model.latent.dim=8"])
    assert message.startswith("--set: model.latent: a section of model 'latent'")


def test_params_keep_their_names_and_only_the_own_section():
    flat = flatten(load_config(GOLDEN))
    assert flat["model.latent.dim"] == "8" and flat["model.name"] == "latent"
    assert not any(k.startswith("model.fno.") for k in flat)


def test_loading_configs_imports_neither_torch_nor_mlflow(tmp_path):
    code = (
        "import sys\nfrom unisim.config import MODEL_NAMES, config_hash, load_config\n"
        f"cfg = load_config({str(GOLDEN)!r}, ['model.name=fno'])\nconfig_hash(cfg)\n"
        "from unisim.models import MODEL_SPECS\nassert set(MODEL_SPECS) == set(MODEL_NAMES)\n"
        "print('HEAVY', [m for m in ('torch', 'mlflow') if m in sys.modules])"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert "HEAVY []" in out.stdout


def test_every_documented_name_imports_from_the_facade():
    import unisim.config as facade

    assert set(facade.__all__) == {*facade._EXPORTS, "ConfigError"}
    for name in facade.__all__:
        assert getattr(facade, name) is not None, name


def test_the_memory_estimate_follows_the_generator(monkeypatch):
    from unisim.config import DataConfig
    from unisim.config.memory import SOLVER_BATCH, data_memory, solver_workers
    from unisim.data.store import BATCH_SIZE

    assert SOLVER_BATCH == BATCH_SIZE  # trajectories per solver call
    monkeypatch.setenv("UNISIM_DATA_WORKERS", "3")
    assert [solver_workers(n) for n in (1, 2, 5, 100)] == [1, 2, 3, 3]
    data = DataConfig(nx=128, nt=41, solver_nx=1024, n_train=256, n_val=32, n_test=64)
    need = data_memory(data)
    assert need.stored == 352 * 41 * 128 * 4
    # three threads, each on a batch of 64: ETDRK4 buffers on the solver grid + output
    per_batch = 64 * (12 * 1024 + 41 * 128) * 8
    assert need.solver == 3 * per_batch + 256 * 1024 * 8 * 4
    pdebench = DataConfig(source="pdebench", path="x.hdf5", nx=1024, downsample_x=4, nt=201,
                          downsample_t=5, n_train=8, n_val=1, n_test=1)  # fmt: skip
    assert data_memory(pdebench).total == 10 * 41 * 256 * 4  # read blockwise, downsampled
