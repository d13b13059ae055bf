"""``experiments new`` (names, config, notes, MLflow experiment), ``migrate``, and .gitignore."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from datetime import date, datetime, timezone

import pytest
from test_lifecycle_support import CONFIG, tree

from unisim import tracking
from unisim.config import load_config
from unisim.experiments.folders import dated_name, validate_name

TODAY = date.today().isoformat()
BAD_NAMES = ["", " ", "..", "../x", "a/../../b", "a/b", "a\\b", "/abs", "~/x", "a\x00b", "a\nb",
             "tab\tname", "\x1b[31mred", "zero\u200bwidth", ".hidden", "-rf", "a b"]  # fmt: skip


@pytest.mark.parametrize("name", BAD_NAMES)
def test_new_refuses_unsafe_names_and_writes_nothing(cli, tmp_path, name):
    code, out, err = cli("experiments", "new", "--", name)  # "--": "-rf" is a name here
    assert code == 2
    assert err.startswith("error: experiment name") and err.count("\n") == 1
    assert sorted(os.listdir(tmp_path)) == []  # no folder, no store


def test_name_helpers():
    assert validate_name("64dim-latent_v2.1") == "64dim-latent_v2.1"
    assert dated_name("foo", date(2026, 11, 29)) == "2026-11-29-foo"
    assert dated_name("2025-01-22-test-64dim") == "2025-01-22-test-64dim"  # already dated


def test_new_from_config_copies_it_and_creates_the_mlflow_experiment(cli, client, tmp_path):
    (tmp_path / "configs").mkdir()
    src = tmp_path / "configs" / "train_x.yaml"
    src.write_text("# my comment\n" + CONFIG)
    code, out, err = cli("experiments", "new", "64dim-latent", "--from", "configs/train_x.yaml")
    assert code == 0, err
    name = f"{TODAY}-64dim-latent"
    folder = tmp_path / "experiments" / name
    copied = (folder / "config.yaml").read_text()
    assert copied.startswith("# my comment\n")  # comments kept; identity rewritten
    assert 'name: "64dim-latent"' in copied and f'experiment: "{name}"' in copied
    notes = (folder / "notes.md").read_text()
    for heading in ("## Hypothesis", "## Config changes", "## Results"):
        assert heading in notes
    assert "configs/train_x.yaml" in notes and "✓" not in notes and "✗" not in notes
    exp = client.get_experiment_by_name(name)
    assert exp.tags[tracking.TAG_EXPERIMENT_DIR] == f"experiments/{name}"
    assert f"#/experiments/{exp.experiment_id}/runs" in out.replace("\n", "")
    code, _, err = cli("experiments", "new", "64dim-latent")
    assert code == 2 and "already exists" in err


def test_new_default_config_loads_and_includes_are_resolved(cli, store, tmp_path):
    assert cli("experiments", "new", "plain")[0] == 0
    cfg = load_config(tmp_path / "experiments" / f"{TODAY}-plain" / "config.yaml")
    assert cfg.name == "plain"
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "base.yaml").write_text(CONFIG)
    (tmp_path / "configs" / "child.yaml").write_text("include: base.yaml\nseed: 7\n")
    assert cli("experiments", "new", "child", "--from", "configs/child.yaml")[0] == 0
    cfg = load_config(tmp_path / "experiments" / f"{TODAY}-child" / "config.yaml")
    assert cfg.seed == 7 and cfg.data.nx == 32


def test_new_with_a_bad_config_writes_nothing(cli, client, tmp_path):
    (tmp_path / "bad.yaml").write_text("training:\n  lr: -1\n")
    code, _, err = cli("experiments", "new", "x", "--from", "bad.yaml")
    assert code == 2 and "training.lr" in err and err.count("\n") == 1
    assert not (tmp_path / "experiments").exists()
    assert client.get_experiment_by_name(f"{TODAY}-x") is None


# ---------------------------------------------------------------- migrate

PROMOTED = "# Production config train_test-64dim.yaml, written by `unisim promote` on ...\n"


@pytest.fixture
def configs(tmp_path):
    d = tmp_path / "configs"
    d.mkdir()
    (d / "train_burgers_golden.yaml").write_text(CONFIG)
    (d / "train_burgers_experimental.yaml").write_text(CONFIG + "seed: 1\n")
    (d / "burgers_test.yaml").write_text(CONFIG + "seed: 2\n")
    (d / "base_test.yaml").write_text(CONFIG)  # included by _v2: stays
    (d / "train_burgers_v2.yaml").write_text("include: base_test.yaml  # shared\nseed: 3\n")
    (d / "train_latest.yaml").write_text(CONFIG)  # "latest" is not "test"
    (d / "train_test-64dim.yaml").write_text(PROMOTED + CONFIG)  # written by promotion
    when = datetime(2025, 3, 4, 12, tzinfo=timezone.utc).timestamp()
    for path in d.iterdir():
        os.utime(path, (when, when))
    return d


MOVED = {
    "train_burgers_experimental.yaml": "2025-03-04-burgers_experimental",
    "burgers_test.yaml": "2025-03-04-burgers_test",
    "train_burgers_v2.yaml": "2025-03-04-burgers_v2",
}
KEPT = ["base_test.yaml", "train_burgers_golden.yaml", "train_latest.yaml", "train_test-64dim.yaml"]


def test_migrate_dry_run_writes_nothing(cli, configs, tmp_path):
    before = {p.name: p.read_bytes() for p in configs.iterdir()}
    code, out, _ = cli("experiments", "migrate", "--dry-run")
    assert code == 0
    for src, folder in MOVED.items():
        assert f"move configs/{src} -> experiments/{folder}/config.yaml" in out
    assert "keep configs/train_test-64dim.yaml: written by unisim promote" in out
    assert {p.name: p.read_bytes() for p in configs.iterdir()} == before
    assert not (tmp_path / "experiments").exists()


def test_migrate_moves_experimental_configs_and_records_their_origin(cli, configs, tmp_path):
    originals = {p.name: p.read_bytes() for p in configs.iterdir()}
    code, out, err = cli("experiments", "migrate")
    assert code == 0, err
    assert sorted(p.name for p in configs.iterdir()) == KEPT
    for src, folder in MOVED.items():
        path = tmp_path / "experiments" / folder
        notes = (path / "notes.md").read_text()
        assert f"configs/{src}" in notes and "## Hypothesis" in notes
        meta = json.loads((path / "metadata.json").read_text())["migrated_from"]
        assert meta["path"] == f"configs/{src}"
        load_config(path / "config.yaml")  # still loads from its new place
        if src != "train_burgers_v2.yaml":
            assert (path / "config.yaml").read_bytes() == originals[src]
    v2 = (tmp_path / "experiments" / MOVED["train_burgers_v2.yaml"] / "config.yaml").read_text()
    assert v2.startswith("include: ../../configs/base_test.yaml  # shared\n")
    out = cli("experiments", "migrate")[1]
    assert "nothing to migrate" in out and "move" not in out


def test_migrate_rerun_finishes_an_interrupted_move(cli, configs, tmp_path):
    keep = configs / "burgers_test.yaml"
    copy = tmp_path / "copy.yaml"
    shutil.copy2(keep, copy)
    assert cli("experiments", "migrate")[0] == 0
    shutil.copy2(copy, keep)  # as if killed after the rename, before removing the original
    before = tree(tmp_path)
    code, out, _ = cli("experiments", "migrate")
    assert code == 0 and "finish configs/burgers_test.yaml" in out
    assert not keep.exists() and tree(tmp_path) == before  # no second folder
    assert cli("experiments", "migrate", "--pattern", "*golden*")[1].count("keep") == 1


# ---------------------------------------------------------------- .gitignore


@pytest.mark.parametrize(
    ("path", "ignored"),
    [
        ("experiments/2026-01-01-x/config.yaml", False),
        ("experiments/2026-01-01-x/notes.md", False),
        ("experiments/2026-01-01-x/metadata.json", False),
        ("experiments/README.md", False),
        ("experiments/2026-01-01-x/checkpoints/last.pt", True),
        ("experiments/2026-01-01-x/artifacts/plot.png", True),
        ("experiments/2026-01-01-x/mlruns/mlflow.db", True),
        ("experiments/2026-01-01-x/model.pt", True),
        ("experiments-archive/2026-01-01-x/metadata.json", False),
        ("experiments-archive/README.md", False),
        ("experiments-archive/2026-01-01-x/checkpoints/last.pt", True),
        ("experiments-archive/.journal/2026-01-01-x.json", True),
        ("mlruns/mlflow.db", True),
    ],
)
def test_gitignore_keeps_the_experiment_record_and_drops_the_rest(repo, path, ignored):
    if shutil.which("git") is None:
        pytest.skip("git not installed")
    done = subprocess.run(
        ["git", "check-ignore", "-q", "--no-index", path], cwd=repo, capture_output=True
    )
    assert done.returncode == (0 if ignored else 1), done.stderr
