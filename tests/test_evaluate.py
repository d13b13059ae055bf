"""``unisim evaluate`` end to end: a tiny trained model in a tmp store, read back with MlflowClient.

One module fixture trains a latent model and a persistence "model" (no epochs)
into its own SQLite store; each test evaluates them from run ids, registry
URIs and checkpoint files.
"""

from __future__ import annotations

import contextlib
import json
import shutil
from pathlib import Path

import pytest

from unisim.tracking import TrackingTarget, configure, connect

TINY = {
    "name": "tiny",
    "tracking": {"experiment": "tiny-eval"},
    "data": {
        "nu": 0.1,
        "nx": 32,
        "solver_nx": 256,
        "nt": 8,
        "n_train": 4,
        "n_val": 4,
        "n_test": 4,
    },
    "model": {
        "name": "latent",
        "latent": {"dim": 8, "tokens": 8, "layers": 1, "heads": 2, "hidden": 16},
    },
    "training": {"epochs": 1, "batch_size": 4, "rollout_steps": 2, "device": "cpu"},
    "evaluation": {"plot_trajectories": 1, "device": "cpu", "fast_stride": 2},
}


def tiny_cfg(**sections):
    from unisim.config import build_config

    data = json.loads(json.dumps(TINY))
    for key, value in sections.items():
        base = data.get(key, {})
        if key == "model" and value.get("name", base["name"]) != base["name"]:
            base = {}  # another architecture: a config holds only its own section
        data[key] = {**base, **value}
    return build_config(data)


class World:
    """What the module fixture built."""

    def __init__(self, root: Path, template_db: Path) -> None:
        self.root = root
        db = root / "store" / "mlflow.db"
        db.parent.mkdir(parents=True)
        shutil.copyfile(template_db, db)  # a migrated schema: no alembic run here
        self.target = TrackingTarget(
            uri=f"sqlite:///{db}", artifact_root=(root / "store" / "artifacts").as_uri()
        )
        self.cache = str(root / "data-cache")

    def cfg(self, **sections):
        sections["data"] = {**sections.get("data", {}), "cache_dir": self.cache}
        return tiny_cfg(**sections)

    @property
    def client(self):
        return configure(self.target)

    def args(self) -> list[str]:
        return ["--tracking-uri", self.target.uri]


@pytest.fixture(scope="module")
def world(tmp_path_factory, _template_db):
    from unisim.training import train_model

    root = tmp_path_factory.mktemp("eval-world")
    w = World(root, _template_db)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        w.latent = train_model(w.cfg(), target=w.target, show_progress=False)
        w.persistence = train_model(
            w.cfg(model={"name": "persistence"}), target=w.target, show_progress=False
        )
    import mlflow

    while mlflow.active_run() is not None:
        mlflow.end_run()
    return w


def register(client, name: str, run_id: str, alias: str = "champion") -> str:
    from mlflow.exceptions import MlflowException

    with contextlib.suppress(MlflowException):  # already registered
        client.create_registered_model(name)
    # MLflow 3: the run's model is a LoggedModel; register it by its model id, as promote does
    exp = client.get_run(run_id).info.experiment_id
    (logged,) = client.search_logged_models(
        experiment_ids=[exp], filter_string=f"source_run_id = '{run_id}'"
    )
    mv = client.create_model_version(
        name, source=f"models:/{logged.model_id}", run_id=run_id, model_id=logged.model_id
    )
    client.set_registered_model_alias(name, alias, mv.version)
    return str(mv.version)


def test_run_id_registry_uri_and_checkpoint_give_the_same_numbers(world) -> None:
    from unisim.evaluation import run_evaluation

    run_id = world.latent.run_id
    cfg = world.cfg(registry={"model_name": "same-numbers"})
    version = register(world.client, "same-numbers", run_id)
    kw = {"cfg": cfg, "target": world.target, "plots": False}
    by_run = run_evaluation(run_id, **kw)
    by_alias = run_evaluation("models:/same-numbers@champion", **kw)
    by_version = run_evaluation(f"models:/same-numbers/{version}", **kw)
    by_ckpt = run_evaluation(world.latent.checkpoint_path, **kw)

    keys = ("final_nrmse", "one_step_nrmse", "rmse", "crmse", "max_error", "conservation_gap")
    for other in (by_alias, by_version, by_ckpt):
        for key in keys:
            assert other.metrics[key] == pytest.approx(by_run.metrics[key], rel=1e-5, abs=1e-9)
    assert by_run.evaluated_run_id == by_alias.evaluated_run_id == run_id
    assert by_ckpt.evaluated_run_id is None
    # the run is the champion's source: never compared with itself
    note = by_run.report["baselines"]["champion"]["note"]
    assert "not compared with itself" in note
    assert by_alias.report["model_source"]["version"] == version
    assert by_ckpt.report["model_source"]["kind"] == "checkpoint"
    assert by_ckpt.report["model_source"]["origin_run_id"] == run_id  # so: no self-comparison
    assert "itself" in by_ckpt.report["baselines"]["champion"]["note"]


def test_evaluate_run_report_plots_and_training_run(world) -> None:
    from unisim.evaluation import run_evaluation
    from unisim.tracking import start_run

    client = world.client
    cfg = world.cfg(
        gates={"metrics": [{"metric": "final_nrmse", "threshold": 100.0}]},
        registry={"model_name": "nobody"},
    )
    with start_run(kind="pipeline", experiment="tiny-eval", target=world.target) as parent:
        res = run_evaluation(
            world.latent.run_id, cfg=cfg, target=world.target, parent_run_id=parent.run_id
        )
    run = client.get_run(res.run_id)
    tags = run.data.tags
    assert tags["unisim.kind"] == "evaluate" and tags["unisim.stage"] == "full"
    assert tags["mlflow.parentRunId"] == parent.run_id
    assert tags["unisim.evaluated_run"] == world.latent.run_id
    assert tags["unisim.gates_passed"] == "true" and res.gates_passed
    assert tags["unisim.gate.final_nrmse.threshold"] == "pass"
    assert tags["unisim.gate.nonfinite.physics"] == "pass"
    assert tags["unisim.data_hash"] == world.latent.data_hash
    assert run.info.experiment_id == world.latent.experiment_id
    assert run.data.metrics["final_nrmse"] == pytest.approx(res.metrics["final_nrmse"])

    # nRMSE per rollout step as a metric history, step 1 = first prediction (nt 8 - context 1)
    history = client.get_metric_history(res.run_id, "horizon/rollout_nrmse")
    assert [m.step for m in sorted(history, key=lambda m: m.step)] == list(range(1, 8))
    assert history[-1].value == pytest.approx(res.rollout_curve[history[-1].step - 1])

    artifacts = {a.path for a in client.list_artifacts(res.run_id)}
    assert {"report.json", "gates.json", "gates.txt", "config.yaml", "plots"} <= artifacts
    plots = {Path(a.path).name for a in client.list_artifacts(res.run_id, "plots")}
    assert plots == {"nrmse_vs_step.png", "spacetime_0.png", "snapshots_0.png"}
    report = json.loads(Path(client.download_artifacts(res.run_id, "report.json")).read_text())
    assert report == json.loads(json.dumps(res.report))
    assert report["final_nrmse"] == pytest.approx(res.metrics["final_nrmse"])
    assert report["data"]["hash"] == world.latent.data_hash
    assert report["data"]["n_samples"] == 4 and report["split"] == "test"
    assert report["ratios"]["ratio_to_persistence"] > 0
    assert report["baselines"]["champion"]["note"] == "provisional: no champion for 'nobody'"
    assert [g["metric"] for g in report["gates"]] == [
        "final_nrmse",
        "conservation_gap",
        "energy_violation",
        "nonfinite",
    ]

    train = client.get_run(world.latent.run_id)
    assert train.data.metrics["final_nrmse"] == pytest.approx(res.metrics["final_nrmse"])
    assert train.data.metrics["one_step_nrmse"] == pytest.approx(res.metrics["one_step_nrmse"])
    assert train.data.tags["unisim.gates_passed"] == "true"
    assert "report.json" in {a.path for a in client.list_artifacts(world.latent.run_id)}

    # the val split is the fast stage: every 2nd trajectory, eval_val/ metrics on the train run
    fast = run_evaluation(world.latent.run_id, cfg=cfg, target=world.target, split="val")
    assert fast.stage == "fast" and fast.report["data"]["n_samples"] == 2
    train = client.get_run(world.latent.run_id)
    assert train.data.metrics["eval_val/final_nrmse"] == pytest.approx(fast.metrics["final_nrmse"])
    assert train.data.metrics["final_nrmse"] == pytest.approx(res.metrics["final_nrmse"])


def test_champion_is_evaluated_on_the_same_data_then_cached(world) -> None:
    from unisim.evaluation import run_evaluation
    from unisim.evaluation.champion import Selection, cache_key, find_champion

    client = world.client
    version = register(client, "persist-reg", world.persistence.run_id)
    cfg = world.cfg(
        registry={"model_name": "persist-reg"},
        gates={"metrics": [{"metric": "final_nrmse", "min_relative_change": 0.5}]},
    )
    first = run_evaluation(world.latent.run_id, cfg=cfg, target=world.target, plots=False)
    (row,) = [g for g in first.gates if g.metric == "final_nrmse"]
    persistence = first.report["baselines"]["persistence"]["metrics"]["final_nrmse"]
    # the champion is persistence: evaluated on the same trajectories it scores the same
    assert row.baseline == pytest.approx(persistence, rel=1e-6)
    assert row.limit == pytest.approx(0.5 * row.baseline)
    assert row.passed == (first.metrics["final_nrmse"] <= row.limit)
    assert first.metrics["ratio_to_champion"] == pytest.approx(
        first.metrics["ratio_to_persistence"], rel=1e-5
    )
    assert not first.report["baselines"]["champion"].get("cached")

    champ = find_champion(connect(world.target), "persist-reg")
    key = cache_key(Selection("test", "full"), world.latent.data_hash)
    cached = json.loads(champ.tags[key])
    assert cached["metrics"]["final_nrmse"] == pytest.approx(row.baseline)

    # the next evaluation reads the tag instead of re-evaluating the champion
    cached["metrics"]["final_nrmse"] = 1e6
    client.set_model_version_tag("persist-reg", version, key, json.dumps(cached))
    second = run_evaluation(world.latent.run_id, cfg=cfg, target=world.target, plots=False)
    (row2,) = [g for g in second.gates if g.metric == "final_nrmse"]
    assert row2.baseline == 1e6 and row2.passed
    assert second.report["baselines"]["champion"]["cached"] is True
    # another split is another cache entry
    val = run_evaluation(
        world.latent.run_id, cfg=cfg, target=world.target, split="val", plots=False
    )
    (row3,) = [g for g in val.gates if g.metric == "final_nrmse"]
    assert row3.baseline == pytest.approx(
        val.report["baselines"]["persistence"]["metrics"]["final_nrmse"], rel=1e-6
    )


def test_other_data_is_not_written_onto_the_training_run(world) -> None:
    from unisim.evaluation import run_evaluation

    client = world.client
    before = client.get_run(world.latent.run_id).data.metrics.get("final_nrmse")
    cfg = world.cfg(data={"seed": 7}, registry={"model_name": "nobody"})  # same grid, new data
    res = run_evaluation(world.latent.run_id, cfg=cfg, target=world.target, plots=False)
    assert res.report["data"]["hash"] != world.latent.data_hash
    assert any("not written to training run" in note for note in res.report["notes"])
    assert client.get_run(world.latent.run_id).data.metrics.get("final_nrmse") == before


def test_fno_baseline_ratio(world) -> None:
    from unisim.evaluation import run_evaluation

    cfg = world.cfg(registry={"model_name": "nobody"})
    res = run_evaluation(
        world.latent.run_id,
        cfg=cfg,
        target=world.target,
        plots=False,
        baseline_models=True,
        fno_source=world.persistence.run_id,  # any model source can stand in for the FNO
    )
    assert res.report["ratios"]["ratio_to_fno"] == pytest.approx(
        res.report["ratios"]["ratio_to_persistence"], rel=1e-5
    )
    # without an explicit source: no FNO run on this data in the experiment
    none = run_evaluation(
        world.latent.run_id, cfg=cfg, target=world.target, plots=False, baseline_models=True
    )
    assert none.report["ratios"]["ratio_to_fno"] is None
    assert "no finished FNO run" in none.report["baselines"]["fno"]["note"]


def test_cli_prints_metrics_and_gates_and_strict_exit(world, cli) -> None:
    run_id = world.latent.run_id
    fail = "gates.metrics=[{metric: final_nrmse, threshold: 1.0e-12}]"
    code, out, err = cli("evaluate", run_id, "--split", "val", "--set", fail, *world.args())
    assert code == 0, err
    assert "final_nrmse" in out and "gates FAILED" in out and "threshold" in out
    code, out, err = cli(
        "evaluate", run_id, "--split", "val", "--set", fail, "--strict-exit", "--no-plots",
        "--result-json", "res.json", *world.args(),
    )  # fmt: skip
    assert code == 1
    result = json.loads(Path("res.json").read_text())
    assert result["gates_passed"] is False and result["info"]["stage"] == "fast"


def _n_runs(world) -> int:
    client = world.client
    return len(client.search_runs([e.experiment_id for e in client.search_experiments()]))


@pytest.mark.parametrize(
    ("make_source", "extra", "message"),
    [
        (lambda w: "0" * 32, [], "not found"),
        (lambda w: w.bare_run, [], "no loadable model"),
        (lambda w: "models:/same-numbers@nope", [], "has no alias 'nope'"),
        (lambda w: "models:/never-registered@champion", [], "never-registered"),
        (lambda w: "missing.pt", [], "not a run id"),
        (lambda w: w.latent.run_id, ["--set", "data.nx=64"], "nx=32"),
        (lambda w: w.latent.run_id, ["--split", "train"], "--split"),
        (lambda w: w.latent.run_id, ["--set", "gates.metrics=[{metric: nrmse, threshold: 1}]"],
         "unknown metric 'nrmse'"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_and_exit_2(world, cli, make_source, extra, message) -> None:
    if not hasattr(world, "bare_run"):
        exp = world.client.get_experiment_by_name("tiny-eval").experiment_id
        bare = world.client.create_run(exp)
        world.client.set_terminated(bare.info.run_id)
        world.bare_run = bare.info.run_id
    before = _n_runs(world)
    code, out, err = cli("evaluate", make_source(world), *extra, *world.args())
    assert code == 2, out + err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], err
    assert "Traceback" not in out + err
    assert _n_runs(world) == before  # nothing written
