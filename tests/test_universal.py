"""The PDE seam end to end: config, data store, held-out split, PDEBench files per family,
protocol fingerprints, conditioning that generalises across coefficients, and the suite.

(The solvers against their exact/reference solutions: tests/test_pdes.py. The model
contract over every (model, PDE) pair: tests/test_models.py.)
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml

from unisim.config import build_config, config_hash, data_config_hash
from unisim.config.protocol import protocol
from unisim.errors import UnisimError

TINY_GRID = {"nx": 32, "solver_nx": 64, "nt": 6, "t_final": 0.5}
SIZES = {"n_train": 4, "n_val": 2, "n_test": 2, "n_heldout": 3}
EQUATIONS = {
    "burgers": {"name": "burgers", "nu": 0.2},
    "advection": {"name": "advection", "beta": [0.4, 1.0], "ic": {"p_window": 0.0}},
    "reaction_diffusion": {
        "name": "reaction_diffusion",
        "nu": 0.5,
        "rho": [1.0, 2.0],
        "ic": {"p_window": 0.0, "normalize": True},
    },
}


def data_cfg(equation: dict, **extra):
    return build_config({"data": {"equation": equation, **TINY_GRID, **SIZES, **extra}}).data


def _files() -> list[Path]:
    cache = Path("data/cache")
    return sorted(cache.glob("*")) if cache.exists() else []


# ---------------------------------------------------------------- config


def test_old_configs_migrate_and_keep_their_hashes(repo):
    """``data.nu``/``data.ic``/``model.condition_nu`` are the spellings before the seam."""
    old = {"data": {"nu": 0.05, "ic": {"k_tot": 3}}, "model": {"condition_nu": False}}
    new = {
        "data": {"equation": {"name": "burgers", "nu": 0.05, "ic": {"k_tot": 3}}},
        "model": {"condition": False},
    }
    a, b = build_config(old), build_config(new)
    assert a == b and a.data.equation.ic.k_tot == 3 and a.model.condition is False
    # a plain Burgers config hashes as before data.equation existed (same cache, same reuse)
    golden = yaml.safe_load((repo / "configs" / "train_burgers_golden.yaml").read_text())
    cfg = build_config(golden)
    assert data_config_hash(cfg.data) == "02a45227c7d969e1"
    assert config_hash(cfg) == "2995003a3cfb3b8b"  # pinned: the 60-minute search's golden
    # every shipped config loads
    from unisim.config import load_config

    for path in sorted((repo / "configs").glob("train_*.yaml")):
        load_config(path)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("data.equation.name=heat", "data.equation.name: 'heat' is not a registered PDE"),
        ("data.equation.nu=50", "data.equation.nu: 50 is outside the allowed range [0.001, 10]"),
        ("data.nu=0.0001", "data.equation.nu: 0.0001 is outside the allowed range"),
        ("data.equation.nu=0.002", "data.solver_nx=64 is too coarse for data.equation.nu=0.002"),
    ],
)
def test_bad_equation_is_one_line_exit_2_and_writes_nothing(cli, override, message):
    Path("tiny.yaml").write_text(yaml.safe_dump({"data": {"nu": 0.2, **TINY_GRID, **SIZES}}))
    code, out, err = cli("data", "generate", "tiny.yaml", "--set", override)
    assert code == 2, (out, err)
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert _files() == []


def test_bad_equation_fails_unisim_run_before_any_run(cli, store):
    Path("tiny.yaml").write_text(yaml.safe_dump({"data": {"nu": 0.2, **TINY_GRID, **SIZES}}))
    code, _, err = cli("run", "tiny.yaml", "--set", "data.equation.beta=1000")
    assert code == 2 and "data.equation.beta: unknown key" in err, err
    code, _, err = cli("run", "tiny.yaml", "--set", "data.equation.nu=0.002")
    assert code == 2 and "too coarse for data.equation.nu=0.002" in err, err
    from mlflow import MlflowClient

    runs = MlflowClient(store.uri).search_runs(
        [e.experiment_id for e in MlflowClient(store.uri).search_experiments()]
    )
    assert [r.data.tags.get("unisim.kind") for r in runs] in ([], ["pipeline"])
    assert _files() == []


def test_protocol_names_the_pde_and_its_coefficients():
    base = build_config({})
    tag, summary = protocol(base)
    assert summary.startswith("burgers nu=0.01 | 128x41")
    others = [
        build_config({"data": {"equation": {"name": "burgers", "nu": 0.02}}}),
        build_config({"data": {"equation": {"name": "advection", "beta": 0.01 * 100}}}),
        build_config({"data": {"equation": {"name": "burgers", "nu": [0.01, 0.02]}}}),
        build_config({"data": {"nx": 64}}),
    ]
    tags = {tag, *(protocol(c)[0] for c in others)}
    assert len(tags) == 5
    assert protocol(base, "heldout")[0] != tag  # another split: other trajectories
    assert protocol(base, condition_on="nearest-train")[0] != tag
    # what the numbers compare (model, training, gates) is not part of it
    assert protocol(build_config({"model": {"name": "fno"}, "training": {"epochs": 3}}))[0] == tag


# ---------------------------------------------------------------- data


@pytest.mark.parametrize("name", sorted(EQUATIONS))
def test_store_is_generic_and_the_heldout_split_is_independent(name):
    from unisim.data import load_heldout

    cfg = data_cfg(EQUATIONS[name])
    splits = load_heldout(cfg)
    assert splits.pde_name == name and splits.train.shape == (4, 6, 32)
    assert splits.heldout.shape == (3, 6, 32) and np.all(np.isfinite(splits.heldout))
    k = len(splits.pde.coefficients)
    for split, n in (("train", 4), ("val", 2), ("test", 2), ("heldout", 3)):
        assert splits.coeffs[split].shape == (n, k)
        cond = splits.conditioning(split)
        assert cond.shape == (n, k) and cond.dtype == np.float32 and np.all(np.abs(cond) <= 1)
    assert Path(splits.path).name.startswith(splits.pde.cache_name(cfg.equation))
    assert "heldout" in Path(splits.extra["heldout_path"]).name

    # another held-out size changes neither the data hash nor the other splits' bytes ...
    bigger = load_heldout(data_cfg(EQUATIONS[name], n_heldout=5))
    assert bigger.data_hash == splits.data_hash
    for split in ("train", "val", "test"):
        assert getattr(bigger, split).tobytes() == getattr(splits, split).tobytes()
    # ... and more training trajectories do not change the held-out ones
    more = load_heldout(data_cfg(EQUATIONS[name], n_train=6))
    assert more.heldout.tobytes() == splits.heldout.tobytes()
    assert not np.array_equal(splits.heldout[0], splits.test[0])


def test_heldout_coefficients_lie_inside_the_training_range_but_not_on_it():
    from unisim.data import load_data, load_heldout

    eq = {"name": "burgers", "nu": [0.1, 0.4]}
    cfg = data_cfg(eq, heldout_coefficients={"nu": {"log_uniform": [0.1, 0.4]}}, n_heldout=6)
    splits = load_heldout(cfg, load_data(cfg))
    assert set(np.unique(splits.coeffs["train"])) <= {0.1, 0.4}
    held = splits.coeffs["heldout"][:, 0]
    assert np.all((held > 0.1) & (held < 0.4))
    with pytest.raises(Exception, match="not a coefficient of burgers"):
        data_cfg(eq, heldout_coefficients={"beta": 1.0})
    with pytest.raises(Exception, match="outside the allowed range"):
        data_cfg(eq, heldout_coefficients={"nu": 100.0})


def _pdebench_file(path: Path, n: int = 6, nt: int = 11, nx: int = 32, attrs=None) -> Path:
    """A small file in PDEBench's layout (t-coordinate with the extra last entry)."""
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        f["tensor"] = rng.standard_normal((n, nt, nx)).astype(np.float32)
        f["x-coordinate"] = ((np.arange(nx) + 0.5) / nx).astype(np.float32)
        f["t-coordinate"] = np.linspace(0, 1, nt + 1).astype(np.float32)
        f.attrs.update(attrs or {})
    return path


@pytest.mark.parametrize(
    ("file", "equation", "coeffs"),
    [
        ("1D_Burgers_Sols_Nu0.1.hdf5", {"name": "burgers", "nu": 0.1}, [0.1]),
        ("1D_Advection_Sols_beta0.4.hdf5", {"name": "advection", "beta": 0.4}, [0.4]),
        (
            "ReacDiff_Nu0.5_Rho1.0.hdf5",
            {"name": "reaction_diffusion", "nu": 0.5, "rho": 1.0},
            [0.5, 1.0],
        ),
    ],
)
def test_pdebench_files_of_every_family_read_through_the_generic_store(file, equation, coeffs):
    from unisim.data import load_data, load_heldout

    path = _pdebench_file(Path(file))
    sizes = {"n_train": 2, "n_val": 1, "n_test": 1, "n_heldout": 2}
    cfg = build_config(
        {"data": {"source": "pdebench", "path": str(path), "equation": equation,
                  "nx": 32, "nt": 11, **sizes}}
    ).data  # fmt: skip
    splits = load_heldout(cfg, load_data(cfg))
    assert splits.train.shape == (2, 11, 32) and splits.heldout.shape == (2, 11, 32)
    np.testing.assert_array_equal(splits.coeffs["train"], [coeffs, coeffs])
    with h5py.File(path) as f:
        np.testing.assert_array_equal(splits.heldout, f["tensor"][4:6])
    # the file's coefficient must be the config's
    name = next(iter(k for k in equation if k != "name"))
    wrong = {**equation, name: coeffs[0] * 2}
    bad = cfg.model_copy(update={"equation": type(cfg.equation).model_validate(wrong)})
    with pytest.raises(UnisimError, match=rf"set data.equation.{name}={coeffs[0]:g}"):
        load_data(bad)
    # a held-out split larger than what the file has left
    with pytest.raises(UnisimError, match="set data.n_heldout=2"):
        load_heldout(cfg.model_copy(update={"n_heldout": 3}))


# ---------------------------------------------------------------- conditioning


MULTI = {
    "seed": 0,
    "data": {
        "equation": {"name": "burgers", "nu": [0.05, 0.5], "ic": {"p_window": 0.0}},
        "heldout_coefficients": {"nu": {"log_uniform": [0.08, 0.3]}},
        "nx": 32, "nt": 11, "t_final": 1.0, "solver_nx": 256,
        "n_train": 96, "n_val": 8, "n_test": 8, "n_heldout": 16,
    },
    "model": {"name": "fno", "fno": {"modes": 8, "width": 16, "layers": 2}},
    "training": {"epochs": 12, "batch_size": 32, "lr": 5e-3, "rollout_steps": 2,
                 "checkpoint_every": 100, "device": "cpu", "amp": False},
    "evaluation": {"plot_trajectories": 0, "device": "cpu"},
    "gates": {"physics": {"max_conservation_gap": None, "max_energy_violation": None}},
}  # fmt: skip


def test_conditioning_generalises_to_held_out_coefficients():
    """Burgers at two viscosities; the held-out trajectories have viscosities in between.

    The conditioning input changes predictions; told the true viscosity the model beats
    being told a wrong one (the far end of the training range)."""
    import torch

    from unisim.config import build_config
    from unisim.data import load_data, load_heldout
    from unisim.evaluation.metrics import nrmse
    from unisim.evaluation.rollout import predict_rollout
    from unisim.models import build_model
    from unisim.training.trainer import Trainer, seed_everything

    torch.set_num_threads(1)
    cfg = build_config(MULTI)
    splits = load_heldout(cfg.data, load_data(cfg.data))
    seed_everything(0)
    model = build_model(cfg)
    trainer = Trainer(
        cfg, model, splits.train, splits.val,
        train_cond=splits.conditioning("train"), val_cond=splits.conditioning("val"),
    )  # fmt: skip
    trainer.fit()
    model.eval()
    held, coeffs = splits.heldout, splits.coeffs["heldout"]
    pde = splits.pde

    def error(told: np.ndarray) -> float:
        pred = predict_rollout(model, held, context=1, cond=pde.conditioning(told))
        return nrmse(pred, held[:, 1:])

    true = error(coeffs)
    wrong = error(np.where(coeffs < 0.16, 0.5, 0.05))  # the far training viscosity
    assert true < 0.8 * wrong, (true, wrong)
    one = predict_rollout(model, held[:2], context=1, cond=pde.conditioning([[0.05], [0.05]]))
    other = predict_rollout(model, held[:2], context=1, cond=pde.conditioning([[0.5], [0.5]]))
    assert not np.allclose(one, other)


def test_evaluate_tells_the_model_the_true_or_the_nearest_training_coefficients(store):
    """``run_evaluation(split="heldout", condition_on=...)``: what reaches the runs."""
    from mlflow import MlflowClient

    from unisim.config import build_config
    from unisim.evaluation import run_evaluation
    from unisim.training import train_model

    cfg = build_config(MULTI, ["training.epochs=2", "data.n_train=32"])
    result = train_model(cfg, target=store, show_progress=False)
    told_true = run_evaluation(result.run_id, split="heldout", target=store, plots=False)
    nearest = run_evaluation(
        result.run_id, split="heldout", target=store, plots=False, condition_on="nearest-train"
    )
    client = MlflowClient(store.uri)
    assert told_true.report["data"]["coefficients"]["nu"]["distinct"] == 16
    run, truth = client.get_run(nearest.run_id), client.get_run(told_true.run_id)
    assert run.data.tags["unisim.condition_on"] == "nearest-train"
    assert "unisim.condition_on" not in truth.data.tags
    assert run.data.tags["unisim.protocol"] != truth.data.tags["unisim.protocol"]
    assert "heldout/final_nrmse" in truth.data.metrics
    assert told_true.metrics["final_nrmse"] != nearest.metrics["final_nrmse"]
    # the held-out figure is recorded on the train run apart from the headline
    trained = client.get_run(result.run_id).data.metrics
    assert "eval_heldout/final_nrmse" in trained and "final_nrmse" not in trained


def test_suite_runs_every_config_under_one_parent_and_writes_one_table(cli, store, repo):
    suite = {
        "name": "tiny-suite",
        "experiment": "tiny-suite",
        "configs": ["burgers.yaml", "advection.yaml"],
        "fno": ["model.name=fno", "model.fno.modes=4", "model.fno.width=4", "model.fno.layers=1"],
    }
    tiny = {
        **TINY_GRID, "n_train": 4, "n_val": 2, "n_test": 2,
    }  # fmt: skip
    quick = {
        "training": {"epochs": 1, "device": "cpu", "amp": False},
        "evaluation": {"plot_trajectories": 0, "device": "cpu"},
        "model": {"name": "latent", "latent": {"tokens": 8, "dim": 4, "hidden": 8}},
    }
    Path("burgers.yaml").write_text(
        yaml.safe_dump({"name": "b", "data": {**tiny, "equation": EQUATIONS["burgers"]}, **quick})
    )
    heldout = {"heldout_coefficients": {"beta": {"log_uniform": [0.5, 0.8]}}, "n_heldout": 3}
    advection = {**tiny, **heldout, "equation": EQUATIONS["advection"]}
    Path("advection.yaml").write_text(yaml.safe_dump({"name": "a", "data": advection, **quick}))
    Path("suite.yaml").write_text(yaml.safe_dump(suite))
    code, out, err = cli("suite", "suite.yaml", "--out", "table.md")
    assert code == 0, (out, err)
    table = Path("table.md").read_text()
    lines = [ln for ln in table.splitlines() if ln.startswith("| ")]
    assert lines[0].startswith("| PDE | coefficients | model | rollout nRMSE | / persistence")
    rows = [ln.split(" | ") for ln in lines[1:]]
    assert [(r[0].strip("| "), r[2]) for r in rows] == [
        ("burgers", "fno"), ("burgers", "latent"), ("advection", "fno"), ("advection", "latent")
    ]  # fmt: skip
    assert rows[1][5] != "-" and rows[3][5] != "-"  # ratio to the FNO of the same data
    from mlflow import MlflowClient

    client = MlflowClient(store.uri)
    exp = client.get_experiment_by_name("tiny-suite")
    runs = client.search_runs([exp.experiment_id])
    (parent,) = [r for r in runs if r.data.tags.get("unisim.kind") == "suite"]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(children) == 4
    kinds = sorted(r.data.tags.get("unisim.kind") for r in runs)  # every run of the suite here
    assert kinds.count("train") == 4 and kinds.count("evaluate") == 8 + 4  # + held-out
    assert {a.path for a in client.list_artifacts(parent.info.run_id)} >= {
        "suite.md",
        "suite.json",
    }
    # the gates column is the full evaluation's verdict, as its evaluate run records it
    rows_json = json.loads(
        Path(client.download_artifacts(parent.info.run_id, "suite.json")).read_text()
    )
    for row in rows_json["rows"]:
        (full,) = [
            r for r in runs
            if r.data.tags.get("mlflow.parentRunId") == row["run_id"]
            and r.data.tags.get("unisim.kind") == "evaluate"
            and r.data.tags.get("unisim.stage") == "full"
            and r.data.tags.get("unisim.split") == "test"
        ]  # fmt: skip
        passed = full.data.tags["unisim.gates_passed"] == "true"
        assert row["gates"] == "passed" if passed else row["gates"].startswith("failed: ")
    assert [r[7].strip(" |") for r in rows] == [row["gates"] for row in rows_json["rows"]]
    # held-out coefficients (advection only): the model told the true beta, then the nearest
    # training beta, each an evaluate run on the held-out split under the pipeline run
    assert [r[8].strip(" |") == "-" for r in rows] == [True, True, False, False]
    for row in rows_json["rows"][2:]:
        heldout = [
            r for r in runs
            if r.data.tags.get("mlflow.parentRunId") == row["run_id"]
            and r.data.tags.get("unisim.split") == "heldout"
        ]  # fmt: skip
        told = {r.data.tags.get("unisim.condition_on", "true"): r for r in heldout}
        assert sorted(told) == ["nearest-train", "true"]
        assert told["true"].data.metrics["final_nrmse"] == pytest.approx(row["heldout_true"])
        assert told["nearest-train"].data.metrics["final_nrmse"] == pytest.approx(
            row["heldout_nearest"]
        )


def test_physics_gates_come_from_the_pde():
    """Reaction grows u: neither the mean nor the energy is a law, so neither is gated."""
    from unisim.evaluation.api import _invariants
    from unisim.evaluation.gates import evaluate_gates

    metrics = {"conservation_gap": 0.5, "energy_violation": 0.5, "nonfinite": 0.0}
    rows = {}
    for name, eq in EQUATIONS.items():
        cfg = build_config({"data": {"equation": eq, **TINY_GRID}})
        gates = evaluate_gates(metrics, cfg.gates, "full", invariants=_invariants(cfg))
        rows[name] = sorted(r.metric for r in gates)
    assert rows["burgers"] == ["conservation_gap", "energy_violation", "nonfinite"]
    assert rows["advection"] == rows["burgers"]
    assert rows["reaction_diffusion"] == ["nonfinite"]
    pure_heat = {**EQUATIONS["reaction_diffusion"], "rho": 0.0}
    cfg = build_config({"data": {"equation": pure_heat, **TINY_GRID}})
    assert _invariants(cfg) == {"mean_conserved", "energy_nonincreasing"}


def test_a_suite_entry_can_carry_its_own_fno_baseline(tmp_path, monkeypatch):
    """A tuned baseline for one config; the others keep the suite's; bad entries are one line."""
    from unisim.pipeline.suite import load_suite

    monkeypatch.chdir(tmp_path)
    Path("a.yaml").write_text("name: a\n")
    Path("b.yaml").write_text("name: b\n")
    suite = {
        "configs": ["a.yaml", {"config": "b.yaml", "fno": ["model.name=fno", "model.fno.modes=8"]}],
        "fno": ["model.name=fno", "model.fno.width=32"],
    }
    Path("suite.yaml").write_text(yaml.safe_dump(suite))
    entries = load_suite("suite.yaml").configs
    assert [(e.config, e.fno) for e in entries] == [
        ("a.yaml", ("model.name=fno", "model.fno.width=32")),
        ("b.yaml", ("model.name=fno", "model.fno.modes=8")),
    ]
    for bad, needle in [
        ({"configs": [{"config": "missing.yaml"}]}, "missing.yaml: file not found"),
        ({"configs": [{"config": "a.yaml", "fnoo": []}]}, "fnoo"),
    ]:
        Path("bad.yaml").write_text(yaml.safe_dump(bad))
        with pytest.raises(UnisimError) as err:
            load_suite("bad.yaml")
        assert needle in str(err.value) and "\n" not in str(err.value)
