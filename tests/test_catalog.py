"""`unisim configs catalog` and `unisim configs diff`: real files, a real SQLite MLflow store."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from unisim.config import config_hash, load_config
from unisim.reports.catalog import build_catalog, diff_configs, gates_summary

BASE = """\
name: tiny
data: {nu: 0.01, nx: 64, solver_nx: 256, nt: 11, n_train: 4, n_val: 2, n_test: 2}
model: {latent: {dim: 16, tokens: 16}}
training: {epochs: 2, batch_size: 4}
gates:
  metrics:
    - {metric: final_nrmse, threshold: 0.5, min_relative_change: 0.01}
"""


def write(path: str, text: str) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)
    return p


@pytest.fixture
def tree() -> dict[str, Path]:
    """configs/ (one good, one bad), experiments/ (good, edited, bad), experiments-archive/."""
    return {
        "golden": write("configs/train_tiny.yaml", BASE),
        "broken": write("configs/train_broken.yaml", "model: {name: transformer}\n"),
        "hidden": write("configs/.tmp-train_x.yaml.123", "not: [a config\n"),
        "exp": write(
            "experiments/2026-01-01-lr/config.yaml",
            "include: ../../configs/train_tiny.yaml\ntraining: {lr: 3.0e-4}\n",
        ),
        "bad_exp": write("experiments/2026-01-02-bad/config.yaml", "training: {lr: -1}\n"),
        "arch": write("experiments-archive/2025-12-01-old/config.yaml", BASE),
    }


def test_catalog_lists_both_folders_and_keeps_going_past_invalid_configs(tree, cli):
    code, out, err = cli("configs", "catalog", "--offline")
    assert code == 0  # invalid configs are reported, not fatal
    for path in ("configs/train_tiny.yaml", "experiments/2026-01-01-lr/config.yaml"):
        assert path in out
    assert "configs/train_broken.yaml" in out and "invalid" in out
    assert ".tmp-train_x" not in out + err  # hidden files (atomic-write leftovers) skipped
    assert "experiments-archive" not in out  # only with --all
    # each invalid config: its config error line, naming file, key and value
    assert "configs/train_broken.yaml: model.name: must be one of" in err
    assert "experiments/2026-01-02-bad/config.yaml: training.lr: must be > 0 (got -1)" in err
    assert "4 configs, 2 invalid" in err

    code, out, _ = cli("configs", "catalog", "--offline", "--all")
    assert code == 0 and "experiments-archive/2025-12-01-old/config.yaml" in out
    code, _, _ = cli("configs", "catalog", "--offline", "--strict")
    assert code == 1


def test_catalog_key_fields_follow_includes(tree):
    cat = build_catalog(offline=True)
    rows = {r.path: r for r in cat.rows}
    exp = rows["experiments/2026-01-01-lr/config.yaml"]
    assert exp.valid and exp.error is None
    assert exp.fields["lr"] == 3e-4  # its own override
    assert exp.fields["grid_nx"] == 64 and exp.fields["grid_nt"] == 11  # from the include
    assert (exp.fields["latent_dim"], exp.fields["latent_tokens"]) == (16, 16)
    assert exp.fields["gates"].startswith("final_nrmse <=0.5 champ-1%; physics cons<=0.05")
    assert exp.config_hash == config_hash(load_config(tree["exp"]))
    assert cat.invalid == 2 and cat.mlflow.startswith("offline")


def test_catalog_writes_the_csv_atomically(tree, cli):
    code, _, err = cli("configs", "catalog", "--offline", "--csv", "configs/catalog.csv")
    assert code == 0 and "wrote configs/catalog.csv" in err
    with open("configs/catalog.csv", newline="") as fh:
        rows = {r["path"]: r for r in csv.DictReader(fh)}
    assert set(rows) == {
        "configs/train_broken.yaml",
        "configs/train_tiny.yaml",
        "experiments/2026-01-01-lr/config.yaml",
        "experiments/2026-01-02-bad/config.yaml",
    }
    good, bad = rows["configs/train_tiny.yaml"], rows["configs/train_broken.yaml"]
    assert good["valid"] == "true" and good["model"] == "latent" and good["epochs"] == "2"
    assert good["model.latent.dim"] == "16"  # every flattened key, like config_catalog.py
    assert good["training.lr"] == "0.001"
    assert bad["valid"] == "false" and "model.name" in bad["error"] and bad["nu"] == ""
    assert not list(Path("configs").glob(".tmp-catalog*"))  # temp file renamed away
    # the CSV itself is not a config: a second catalog lists the same configs
    assert len(build_catalog(offline=True).rows) == 4


def _pipeline_run(store, cfg_path: Path, nrmse: float, experiment: str | None = None) -> str:
    from unisim import tracking
    from unisim.config import experiment_name

    cfg = load_config(cfg_path)
    with tracking.start_run(
        kind="pipeline",
        experiment=experiment or experiment_name(cfg_path, cfg),
        target=store,
        cfg=cfg,  # logs unisim.config_hash
        config_path=cfg_path,
    ) as run:
        run.metrics.log({"final_nrmse": nrmse})
        run.set_tags({tracking.TAG_GATES_PASSED: "true"})
    return run.run_id


def test_catalog_fills_the_run_columns_from_mlflow(tree, store, cli):
    golden = _pipeline_run(store, tree["golden"], 0.3)
    newer = _pipeline_run(store, tree["golden"], 0.2, experiment="elsewhere")
    # the experiment ran, then its config was edited: matched by experiment name
    edited = _pipeline_run(store, tree["exp"], 0.4)
    tree["exp"].write_text(tree["exp"].read_text() + "seed: 7\n")

    cat = build_catalog(target=store)
    rows = {r.path: r for r in cat.rows}
    last = rows["configs/train_tiny.yaml"].last
    assert last is not None and last.run_id == newer  # the newest run with this config hash
    assert last.final_nrmse == pytest.approx(0.2) and last.status == "success"
    assert last.match == "config_hash" and last.experiment == "elsewhere"
    assert last.gates_passed == "true" and last.started is not None
    exp = rows["experiments/2026-01-01-lr/config.yaml"].last
    assert exp is not None and exp.run_id == edited and exp.match == "experiment"
    assert exp.experiment == "2026-01-01-lr"
    assert rows["configs/train_broken.yaml"].last is None
    assert cat.with_runs == 2 and cat.mlflow == store.uri
    assert golden != newer

    code, out, _ = cli("configs", "catalog", "--json", "--csv", "catalog.csv")
    assert code == 0
    by_path = {r["path"]: r for r in json.loads(out)}
    assert by_path["configs/train_tiny.yaml"]["last_run"]["run_id"] == newer
    with open("catalog.csv", newline="") as fh:
        row = next(r for r in csv.DictReader(fh) if r["path"] == "configs/train_tiny.yaml")
    assert row["last_run_id"] == newer and float(row["last_final_nrmse"]) == pytest.approx(0.2)
    assert row["last_status"] == "success" and row["last_date"].startswith("20")


def test_catalog_never_creates_a_local_store(tree, cli):
    code, _, err = cli("configs", "catalog")  # no MLFLOW_TRACKING_URI: the local profile
    assert code == 0 and "no store yet" in err
    assert not Path("mlruns").exists()


def test_catalog_survives_an_unreachable_server(tree, cli):
    code, out, err = cli("configs", "catalog", "--tracking-uri", "http://127.0.0.1:9")
    assert code == 0 and "configs/train_tiny.yaml" in out
    assert "unreachable" in err


def test_diff_shows_the_keys_that_differ(tree, cli):
    d = diff_configs(tree["golden"], tree["exp"], overrides_b=["model.latent.dim=32"])
    assert [k for k, _, _ in d.rows] == ["model.latent.dim", "training.lr"]
    assert ("training.lr", "0.001", "0.0003") in d.rows
    assert not d.same_model

    # the gate list is spelt out key by key; --set applies to both sides
    code, out, _ = cli(
        "configs", "diff", str(tree["golden"]), str(tree["golden"]),
        "--set-b", "gates.metrics=[{metric: final_nrmse, threshold: 0.2}]",
        "--set", "training.epochs=3", "--json",
    )  # fmt: skip
    assert code == 0
    keys = {r["key"]: r for r in json.loads(out)["differences"]}
    assert set(keys) == {"gates.metrics[0].threshold", "gates.metrics[0].min_relative_change"}
    assert keys["gates.metrics[0].threshold"] == {
        "key": "gates.metrics[0].threshold",
        "a": "0.5",
        "b": "0.2",
    }
    assert json.loads(out)["same_model"] is True  # gates do not change the trained model

    code, out, _ = cli("configs", "diff", str(tree["golden"]), str(tree["exp"]))
    assert code == 0 and "training.lr" in out and "1 key differs" in out
    code, out, _ = cli("configs", "diff", str(tree["golden"]), str(tree["golden"]))
    assert code == 0 and "no differences" in out


def test_diff_of_an_invalid_config_is_one_line_exit_2(tree, cli):
    code, out, err = cli("configs", "diff", str(tree["golden"]), str(tree["broken"]))
    assert code == 2 and out == ""
    assert err.strip() == (
        "error: configs/train_broken.yaml: model.name: must be one of "
        "'latent', 'fno', 'neuralop_fno' or 'persistence' (got 'transformer')"
    )


def test_gates_summary_names_every_check():
    from unisim.config import GatesConfig

    gates = GatesConfig.model_validate(
        {
            "metrics": [
                {"metric": "ratio_to_fno", "threshold": 0.8, "stages": ["full"]},
                {"metric": "crmse", "greater_is_better": True, "min_absolute_change": 0.1},
            ],
            "physics": {"max_energy_violation": None, "allow_nonfinite": True},
        }
    )
    assert gates_summary(gates) == (
        "ratio_to_fno <=0.8 (full); crmse champ+0.1; physics cons<=0.05"
    )


def test_repository_configs_all_load(repo, cli, monkeypatch):
    """Every config shipped in configs/ and experiments/ loads (the catalog's --strict)."""
    if not list((repo / "configs").glob("*.yaml")):
        pytest.skip("no configs in the repository yet")
    monkeypatch.chdir(repo)
    code, _, err = cli("configs", "catalog", "--offline", "--strict")
    assert code == 0, err
