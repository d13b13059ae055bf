"""Config tree: round trip, overrides, include, and one-line errors for bad input."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from unisim.config import (
    Config,
    build_config,
    config_hash,
    experiment_name,
    flatten,
    load_config,
    to_yaml,
)
from unisim.errors import ConfigError


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_round_trip_keeps_the_hash(tmp_path):
    cfg = load_config(write(tmp_path / "a.yaml", "training:\n  lr: 0.003\nmodel:\n  context: 2\n"))
    again = load_config(write(tmp_path / "b.yaml", to_yaml(cfg)))
    assert again == cfg
    assert config_hash(again) == config_hash(cfg)
    assert cfg.training.lr == 0.003 and cfg.model.context == 2


def test_hash_ignores_gates_but_not_training(tmp_path):
    base = Config()
    assert config_hash(build_config({"gates": {"physics": {"max_energy_violation": 0.5}}})) == (
        config_hash(base)
    )
    assert config_hash(build_config({"training": {"lr": 0.5}})) != config_hash(base)
    # model.latent.linear_modes came later: off, a config hashes as before it; on, it counts
    assert config_hash(build_config({"model": {"latent": {"linear_modes": 0}}})) == (
        config_hash(base)
    )
    assert config_hash(build_config({"model": {"latent": {"linear_modes": 8}}})) != (
        config_hash(base)
    )


def test_overrides_are_parsed_as_yaml(tmp_path):
    path = write(tmp_path / "c.yaml", "training:\n  epochs: 3\n")
    cfg = load_config(path, ["training.lr=3e-4", "model.name=fno", "training.grad_clip=null"])
    assert cfg.training.lr == pytest.approx(3e-4)
    assert cfg.model.name == "fno"
    assert cfg.training.grad_clip is None
    assert cfg.training.epochs == 3


def test_include_merges_deeply_and_child_wins(tmp_path):
    write(tmp_path / "base.yaml", "data:\n  nu: 0.1\n  nx: 64\ntraining:\n  epochs: 7\n")
    child = write(tmp_path / "child.yaml", "include: base.yaml\ndata:\n  nx: 32\n")
    cfg = load_config(child)
    assert (cfg.data.nu, cfg.data.nx, cfg.training.epochs) == (0.1, 32, 7)


def test_include_cycle_is_an_error(tmp_path):
    write(tmp_path / "a.yaml", "include: b.yaml\n")
    write(tmp_path / "b.yaml", "include: a.yaml\n")
    with pytest.raises(ConfigError, match="include cycle"):
        load_config(tmp_path / "a.yaml")


def test_flatten_gives_dotted_string_params():
    flat = flatten(Config())
    assert flat["model.latent.dim"] == "16"
    assert flat["training.lr"] == "0.001"
    assert all(isinstance(v, str) and len(v) <= 6000 for v in flat.values())


def test_experiment_name_from_folder(tmp_path):
    folder = tmp_path / "experiments" / "2026-11-29-wide"
    folder.mkdir(parents=True)
    path = write(folder / "config.yaml", "")
    assert experiment_name(path, Config()) == "2026-11-29-wide"
    assert experiment_name(tmp_path / "x.yaml", Config()) == "burgers"


BAD_CONFIGS = [
    ("training:\n  lr: -1\n", "training.lr: must be > 0 (got -1)"),
    ("training:\n  lrr: 1\n", "training.lrr: unknown key"),
    ("trainig:\n  lr: 1\n", "trainig: unknown key"),
    ("training:\n  batch_size: 0\n", "training.batch_size: must be >= 1 (got 0)"),
    ("training:\n  epochs: many\n", "training.epochs: "),
    ("model:\n  name: resnet\n", "model.name: must be one of"),
    ("data:\n  nu: 0\n", "data.equation.nu: 0 is outside the allowed range [0.001, 10] of nu"),
    ("data:\n  nx: 100\n  solver_nx: 1024\n", "solver_nx must be a multiple of nx"),
    ("model:\n  latent:\n    tokens: 5\n", "must divide the grid"),
    ("data:\n  source: pdebench\n", "needs data.path"),
    ("training: [1, 2]\n", "training: "),
    ("- just\n- a list\n", "top level must be a mapping"),
    ("training:\n  lr: [1\n", "invalid YAML at line"),
    ("model:\n  context: 41\n", "leaves no step to predict"),
    ("training:\n  ema_decay: 1.5\n", "training.ema_decay: must be < 1"),
    (
        "gates:\n  metrics:\n    - threshold: 0.1\n",
        "gates.metrics.0.metric: required key is missing",
    ),
    ("include: missing.yaml\n", "missing.yaml: file not found"),
]


@pytest.mark.parametrize(("text", "expected"), BAD_CONFIGS)
def test_bad_config_gives_one_line_and_exit_2(tmp_path, cli, text, expected):
    path = write(tmp_path / "bad.yaml", text)
    code, out, err = cli("configs", "validate", str(path))
    assert code == 2
    assert expected in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err + out


BAD_ARGS = [
    (["configs", "validate", "nope.yaml"], "nope.yaml: file not found"),
    (["configs", "validate", "--set", "noequals", "x.yaml"], "expected KEY=VALUE"),
    (["configs", "validate", "--set", "training.lr=-2", "x.yaml"], "--set: training.lr"),
    (["configs", "validate", "--set", "training.nope=1", "x.yaml"], "unknown key"),
    (["configs", "validate"], "Missing argument"),
    (["nosuchcommand"], "No such command"),
    (["configs", "validate", "--bogus", "x.yaml"], "No such option"),
]


@pytest.mark.parametrize(("args", "expected"), BAD_ARGS)
def test_bad_arguments_give_one_line_and_exit_2(tmp_path, cli, args, expected):
    write(tmp_path / "x.yaml", "training:\n  epochs: 1\n")
    code, out, err = cli(*args)
    assert code == 2, (out, err)
    assert expected in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err + out


@settings(max_examples=30, deadline=None)
@given(
    key=st.sampled_from(
        ["training.lr", "training.epochs", "data.equation.nu", "training.batch_size"]
    ),
    value=st.one_of(st.integers(max_value=0), st.floats(max_value=0, allow_nan=False)),
)
def test_non_positive_values_are_refused_with_the_key(key, value):
    with pytest.raises(ConfigError) as info:
        build_config({}, [f"{key}={value!r}"], source="x.yaml")
    message = str(info.value)
    assert message.startswith("--set: ") and key in message and "\n" not in message


def test_good_config_validates_and_prints_hash(tmp_path, cli):
    path = write(tmp_path / "ok.yaml", yaml.safe_dump({"training": {"epochs": 2}}))
    code, out, _ = cli("configs", "validate", str(path))
    assert code == 0 and "config_hash" in out


def test_schema_is_json(cli):
    import json

    code, out, _ = cli("configs", "schema")
    assert code == 0
    assert "training" in json.loads(out)["properties"]


def test_nothing_written_on_bad_input(tmp_path, cli):
    path = write(tmp_path / "bad.yaml", "training:\n  lr: -1\n")
    before = sorted(p.name for p in tmp_path.iterdir())
    cli("configs", "validate", str(path))
    assert sorted(p.name for p in tmp_path.iterdir()) == before
