"""The whole pipeline on a tiny config against a tmp SQLite store, checked via MlflowClient."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

TINY = """
name: tiny
tracking:
  experiment: tiny
data:
  nu: 0.1
  nx: 32
  solver_nx: 256
  nt: 11
  n_train: 12
  n_val: 4
  n_test: 4
model:
  name: latent
  latent: {dim: 8, tokens: 8, layers: 1, heads: 2, hidden: 16}
training:
  epochs: 2
  batch_size: 6
  rollout_steps: 2
  checkpoint_every: 1
evaluation:
  plot_trajectories: 1
gates:
  metrics:
    - {metric: final_nrmse, threshold: THRESHOLD}
"""


def write_config(folder: Path, threshold: float = 10.0) -> Path:
    path = folder / "tiny.yaml"
    path.write_text(TINY.replace("THRESHOLD", repr(threshold)))
    return path


def runs_of(client, kind: str):
    exp = client.get_experiment_by_name("tiny")
    return client.search_runs([exp.experiment_id], f"tags.`unisim.kind` = '{kind}'")


def test_pipeline_runs_every_stage_and_records_the_headline(tmp_path, store, client, cli):
    code, out, err = cli("run", write_config(tmp_path), "--strict-exit")
    assert code == 0, out + err

    (parent,) = runs_of(client, "pipeline")
    tags, metrics = parent.data.tags, parent.data.metrics
    assert parent.info.status == "FINISHED"
    assert tags["unisim.status"] == "success" and tags["unisim.gates_passed"] == "true"
    assert 0 < metrics["final_nrmse"] < 10 and "one_step_nrmse" in metrics
    for name in ("data", "train", "eval-fast", "eval-full"):
        assert metrics[f"stage/{name}_s"] >= 0
    assert tags["unisim.data_hash"] and tags["unisim.config_hash"]
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"summary.json", "report.json", "config.yaml"} <= artifacts
    summary = json.loads(
        Path(client.download_artifacts(parent.info.run_id, "summary.json")).read_text()
    )
    assert [s["name"] for s in summary["stages"]] == ["data", "train", "eval-fast", "eval-full"]

    children = {kind: runs_of(client, kind) for kind in ("data", "train", "evaluate")}
    assert len(children["data"]) == 1 and len(children["train"]) == 1
    assert sorted(r.data.tags["unisim.stage"] for r in children["evaluate"]) == ["fast", "full"]
    for runs in children.values():
        for run in runs:
            assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id
            assert run.info.status == "FINISHED"
    train = children["train"][0]
    assert tags["unisim.train_run"] == train.info.run_id
    assert train.data.metrics["final_nrmse"] == pytest.approx(metrics["final_nrmse"])
    assert "http://127.0.0.1:5000/#/experiments/" in out


def stage_of(client, run, name: str) -> dict:
    path = client.download_artifacts(run.info.run_id, "summary.json")
    (stage,) = [s for s in json.loads(Path(path).read_text())["stages"] if s["name"] == name]
    return stage


def test_second_run_reuses_training_and_evaluation(tmp_path, store, client, cli):
    path = write_config(tmp_path)
    assert cli("run", path)[0] == 0
    code, out, _ = cli("run", path)
    assert code == 0
    assert len(runs_of(client, "train")) == 1
    assert len(runs_of(client, "evaluate")) == 2
    assert len(runs_of(client, "pipeline")) == 2
    assert "train reused" in out
    # the reused stage reports what the first run trained, not None
    second, first = sorted(runs_of(client, "pipeline"), key=lambda r: -r.info.start_time)
    trained, reused = stage_of(client, first, "train"), stage_of(client, second, "train")
    assert (trained["status"], reused["status"]) == ("ok", "reused")
    (train,) = runs_of(client, "train")
    best = train.data.metrics["fit/best_val_nrmse"]
    assert trained["metrics"]["fit/best_val_nrmse"] == pytest.approx(best)
    assert reused["metrics"]["fit/best_val_nrmse"] == pytest.approx(best)
    assert "fit/best_val_nrmse=" in out.split("train reused")[1].splitlines()[0]
    for name in ("eval-fast", "eval-full"):
        assert stage_of(client, second, name)["status"] == "reused"
        assert stage_of(client, second, name)["metrics"]["final_nrmse"] == pytest.approx(
            stage_of(client, first, name)["metrics"]["final_nrmse"]
        )


def test_failed_fast_gate_stops_before_full_eval(tmp_path, store, client, cli):
    code, out, _ = cli("run", write_config(tmp_path, threshold=1e-9), "--strict-exit")
    assert code == 1
    (parent,) = runs_of(client, "pipeline")
    assert parent.data.tags["unisim.gates_passed"] == "false"
    assert parent.data.tags["unisim.status"] == "failed"
    assert [r.data.tags["unisim.stage"] for r in runs_of(client, "evaluate")] == ["fast"]
    assert "final_nrmse" not in parent.data.metrics
    assert "eval-full skipped" in out


def test_without_strict_exit_failed_gates_exit_0(tmp_path, store, cli):
    assert cli("run", write_config(tmp_path, threshold=1e-9))[0] == 0


def test_bad_config_creates_no_run(tmp_path, store, client, cli):
    path = tmp_path / "bad.yaml"
    path.write_text("training:\n  batch_size: 0\n")
    code, _, err = cli("run", path)
    assert code == 2 and "training.batch_size" in err
    assert client.search_experiments(filter_string="name = 'burgers'") == []


def test_isolated_stage_crash_is_named_and_its_run_failed(tmp_path, store, client, cli):
    path = write_config(tmp_path)
    code, out, err = cli(
        "run", path, "--isolate", "--set", "training.lr=1e12", "--set", "training.grad_clip=null"
    )
    assert code == 3, out + err
    assert "stage train failed" in err
    (parent,) = runs_of(client, "pipeline")
    assert parent.data.tags["unisim.status"] == "failed"
    assert parent.data.tags["unisim.failure_reason"].startswith("stage train: subprocess exited")
    (train,) = runs_of(client, "train")
    assert train.info.status == "FAILED"
    assert "non-finite" in train.data.tags["unisim.failure_reason"]
    assert runs_of(client, "evaluate") == []


@pytest.mark.slow
def test_isolated_pipeline_matches_the_schema(tmp_path, store, client, cli):
    code, out, err = cli("run", write_config(tmp_path), "--isolate", "--strict-exit")
    assert code == 0, out + err
    (parent,) = runs_of(client, "pipeline")
    assert parent.data.tags["unisim.gates_passed"] == "true"
    for kind in ("train", "evaluate"):
        for run in runs_of(client, kind):
            assert run.data.tags["mlflow.parentRunId"] == parent.info.run_id


def test_ctrl_c_ends_every_open_run_killed(tmp_path, store, client):
    import os
    import signal
    import subprocess
    import sys
    import time

    from tests.conftest import subprocess_env

    path = write_config(tmp_path)
    # far more epochs than the test lasts: the signal always lands inside the epoch loop
    path.write_text(path.read_text().replace("epochs: 2", "epochs: 100000"))
    env = {**subprocess_env(), "PYTHONUNBUFFERED": "1"}
    log_path = tmp_path / "run.log"  # a file, not an unread pipe: a full pipe blocks write()
    with log_path.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "unisim", "run", str(path)],
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            # a launcher that started us in the background (CI) leaves SIGINT ignored, and
            # children inherit that: give the run the default Ctrl-C a terminal would
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        try:
            deadline = time.monotonic() + 240
            while time.monotonic() < deadline and proc.poll() is None:
                exp = client.get_experiment_by_name("tiny")
                if exp is not None and runs_of(client, "train"):
                    break
                time.sleep(1)
            time.sleep(5)  # inside the epoch loop
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=120)
        finally:
            if proc.poll() is None:  # never leave a 100000-epoch run behind
                proc.kill()
                proc.wait()
    assert proc.returncode == 130, log_path.read_text()[-2000:]
    statuses = {
        kind: [r.info.status for r in runs_of(client, kind)] for kind in ("pipeline", "train")
    }
    assert statuses == {"pipeline": ["KILLED"], "train": ["KILLED"]}, statuses
    assert os.path.exists(tmp_path / "data")


def test_per_trajectory_csv_columns_follow_the_seeds_not_the_chosen_one_first():
    from unisim.pipeline.outcome import StageOutcome
    from unisim.pipeline.run import _per_trajectory_csv

    full = [  # as the pipeline hands them over: the chosen seed (2) first
        StageOutcome("eval-full", seed=2, per_trajectory=[0.2, 0.25]),
        StageOutcome("eval-full", seed=0, per_trajectory=[0.0, 0.05]),
        StageOutcome("eval-full", seed=1, per_trajectory=[0.1, 0.15]),
    ]
    assert _per_trajectory_csv(full).splitlines() == [
        "trajectory,seed_0,seed_1,seed_2",
        "0,0.0,0.1,0.2",
        "1,0.05,0.15,0.25",
    ]


def test_seeds_train_one_model_each_and_report_an_interval(tmp_path, store, client, cli):
    code, out, err = cli("run", write_config(tmp_path), "--seeds", "0,1", "--strict-exit")
    assert code == 0, out + err
    (parent,) = runs_of(client, "pipeline")
    trains = runs_of(client, "train")
    assert sorted(r.data.params["seed"] for r in trains) == ["0", "1"]
    assert sorted(r.info.run_name for r in trains) == ["train-seed-0", "train-seed-1"]
    assert all(r.data.tags["mlflow.parentRunId"] == parent.info.run_id for r in trains)
    assert len(runs_of(client, "evaluate")) == 4  # fast and full, per seed
    m = parent.data.metrics
    per_seed = {
        int(p.step): p.value
        for p in client.get_metric_history(parent.info.run_id, "seed/final_nrmse")
    }
    assert sorted(per_seed) == [0, 1]
    assert m["final_nrmse"] == pytest.approx(sum(per_seed.values()) / 2)
    assert m["final_nrmse_low"] <= m["final_nrmse"] <= m["final_nrmse_high"]
    assert m["final_nrmse_std"] > 0 and m["worst_decile_nrmse"] >= m["final_nrmse"]
    # the model the pipeline stands for is the seed with the best validation nRMSE
    best = min(trains, key=lambda r: r.data.metrics["fit/best_val_nrmse"])
    assert parent.data.tags["unisim.train_run"] == best.info.run_id
    assert parent.data.tags["unisim.chosen_seed"] == best.data.params["seed"]
    csv = Path(client.download_artifacts(parent.info.run_id, "per_trajectory.csv")).read_text()
    lines = csv.splitlines()
    assert lines[0] == "trajectory,seed_0,seed_1" and len(lines) == 1 + 4  # n_test = 4
    columns = list(zip(*(map(float, line.split(",")[1:]) for line in lines[1:]), strict=True))
    for seed, column in enumerate(columns):  # seed order, whichever seed was chosen
        assert sum(column) / len(column) == pytest.approx(per_seed[seed], rel=1e-6)
    report = json.loads(
        Path(client.download_artifacts(parent.info.run_id, "report.json")).read_text()
    )
    assert report["seeds"]["seeds"] == [
        int(best.data.params["seed"]),
        1 - int(best.data.params["seed"]),
    ]
    assert (
        report["seeds"]["n_trajectories"] == 4 and len(report["per_trajectory"]["final_nrmse"]) == 4
    )
    assert "(2 seeds x 4 trajectories)" in out
    code, _, err = cli("run", write_config(tmp_path), "--seeds", "0,x")
    assert code == 2 and "--seeds" in err and err.count("\n") == 1
