"""``unisim sweep``: Optuna studies whose trials are nested MLflow runs.

Covers: a 6-trial sweep on a tiny config in a real subprocess (6 trial runs nested under
one sweep run, some pruned and FINISHED, best trial and summary on the sweep run, the
best config's experiment folder loadable, the test split never read, ``sweep show``);
bad space files (unknown key, empty range, wrong type, a refused value: exit 2, one
line, nothing written); two worker processes on one study (SQLite, and PostgreSQL)
finishing exactly N trials; kill -9 of a worker mid-trial, then the same command again:
the study completes, the dead trial is FAIL and its run ended, nothing counted twice;
reading only the train and validation splits.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import subprocess_env
from server_fixtures import PG_ADMIN, pg_database  # noqa: F401 (a fixture)

TINY = {
    "name": "tiny",
    "seed": 1,
    "data": {"nu": 0.1, "nx": 32, "solver_nx": 256, "nt": 8, "n_train": 8, "n_val": 4},
    "model": {
        "name": "latent",
        "latent": {"dim": 4, "tokens": 8, "processor": "mlp", "layers": 1, "hidden": 8},
    },
    "training": {
        "epochs": 3,
        "batch_size": 8,
        "lr": 3e-3,
        "rollout_steps": 2,
        "device": "cpu",
        "checkpoint_every": 1,
    },
    "tracking": {"experiment": "tiny"},
}
TINY["data"]["n_test"] = 4
# Two learning rates, one useless: with one startup trial the median pruner stops some
# trials after their first epoch (seeded TPE and deterministic CPU training: the same
# trials each time).
SPACE = {
    "sampler": {"seed": 0, "n_startup_trials": 3},
    "pruner": {"name": "median", "n_startup_trials": 1, "n_warmup_steps": 0},
    "params": {
        "training.lr": {"type": "categorical", "choices": [1.0e-7, 1.0e-2]},
        "model.latent.dim": {"type": "categorical", "choices": [4, 8]},
    },
}


def write(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture
def files(tmp_path):
    return write(tmp_path / "cfg.yaml", TINY), write(tmp_path / "space.yaml", SPACE)


def unisim(*args: str, env: dict | None = None, timeout: int = 300):
    return subprocess.run(
        [sys.executable, "-m", "unisim", *map(str, args)],
        capture_output=True,
        text=True,
        env={**subprocess_env(), **(env or {})},
        timeout=timeout,
    )


def all_runs(client) -> list:
    ids = [e.experiment_id for e in client.search_experiments()]
    return client.search_runs(ids, max_results=1000) if ids else []


def load_study(name: str, url: str):
    import optuna

    return optuna.load_study(study_name=name, storage=url)


def check_study_and_runs(client, study, n: int) -> None:
    """N finished trials, one MLflow run per trial, nested under one sweep run, none RUNNING."""
    from optuna.trial import TrialState

    trials = study.get_trials()
    finished = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(finished) == n
    assert not [t for t in trials if t.state == TrialState.RUNNING]
    runs = all_runs(client)
    assert not [r for r in runs if r.info.status == "RUNNING"]
    sweeps = [r for r in runs if r.data.tags.get("unisim.kind") == "sweep"]
    assert len(sweeps) == 1
    trial_runs = [r for r in runs if r.data.tags.get("unisim.kind") == "trial"]
    parents = {r.data.tags.get("mlflow.parentRunId") for r in trial_runs}
    assert parents == {sweeps[0].info.run_id}, [r.data.tags for r in trial_runs]
    numbers = [int(r.data.tags["unisim.trial"]) for r in trial_runs]
    assert len(numbers) == len(set(numbers))  # no trial twice
    by_number = {t.number: t for t in trials}
    for r in trial_runs:
        t = by_number.get(int(r.data.tags["unisim.trial"]))
        assert t is not None, (r.data.tags, sorted(by_number))
        assert t.user_attrs.get("mlflow_run_id") == r.info.run_id, (t.user_attrs, r.info)
        assert r.data.tags.get("unisim.trial_state") == t.state.name.lower(), (t, r.data.tags)


# ---------------------------------------------------------------- the sweep


@pytest.mark.slow  # ~25 s on a loaded 2-core machine
def test_six_trial_sweep_nests_prunes_records_best_and_never_reads_test(
    files, store, client, tmp_path
):
    cfg, space = files
    read_log = tmp_path / "reads.log"
    env = {"UNISIM_DATA_READ_LOG": str(read_log)}
    out = unisim("sweep", cfg, "--space", space, "--trials", 6, env=env)
    assert out.returncode == 0, out.stderr
    # progress: one line per trial on stderr, the study's totals counting up
    lines = [ln for ln in out.stderr.splitlines() if ln.startswith("trial ")]
    assert [ln.split(" | ")[1].split(",")[0] for ln in lines] == [
        f"{i}/6 finished" for i in range(1, 7)
    ], out.stderr
    assert any(" pruned at epoch " in ln for ln in lines), lines
    url = f"sqlite:///{tmp_path / 'store' / 'optuna.db'}"  # beside the tracking store
    study = load_study("tiny-space", url)
    check_study_and_runs(client, study, 6)

    runs = all_runs(client)
    trial_runs = [r for r in runs if r.data.tags.get("unisim.kind") == "trial"]
    assert len(trial_runs) == 6
    pruned = [r for r in trial_runs if r.data.tags["unisim.trial_state"] == "pruned"]
    assert pruned, "the median pruner should stop a trial of this space"
    for r in pruned:  # pruned is not a failure
        assert r.info.status == "FINISHED"
        assert r.data.tags["unisim.stop_reason"] == "pruned"
    for r in trial_runs:  # params = the resolved config; the per-epoch curve
        assert r.data.params["model.latent.dim"] in ("4", "8")
        assert client.get_metric_history(r.info.run_id, "val/nrmse")

    sweep = next(r for r in runs if r.data.tags.get("unisim.kind") == "sweep")
    assert sweep.info.status == "FINISHED"
    assert sweep.data.tags["unisim.study"] == "tiny-space"
    assert sweep.data.tags["unisim.best_trial"] == str(study.best_trial.number)
    assert sweep.data.metrics["sweep/best_value"] == pytest.approx(study.best_value)
    artifacts = {a.path for a in client.list_artifacts(sweep.info.run_id)}
    assert {"trials.json", "trials.csv", "best_params.json", "plots"} <= artifacts
    plots = {a.path for a in client.list_artifacts(sweep.info.run_id, "plots")}
    assert "plots/optimization_history.png" in plots

    # the best config: an experiment folder that unisim run / promote accept
    from unisim.config import load_config

    folder = Path(sweep.data.tags["unisim.sweep_best_dir"])
    assert folder.name.endswith("-tiny-space-sweep-best")
    best = load_config(folder / "config.yaml")
    for key, value in study.best_params.items():
        section, *rest = key.split(".")
        node = getattr(best, section)
        for part in rest:
            node = getattr(node, part)
        assert node == value
    meta = json.loads((folder / "metadata.json").read_text())
    assert meta["sweep"]["study"] == "tiny-space"
    assert meta["sweep"]["trial"] == study.best_trial.number
    assert "tiny-space" in (folder / "notes.md").read_text()
    assert "training budget" not in (folder / "notes.md").read_text()  # no budget override

    # the test split was never read: only train and val rows
    reads = {line.split("\t")[0] for line in read_log.read_text().splitlines()}
    assert reads == {"train", "val"}

    shown = unisim("sweep", "show", "tiny-space")
    assert shown.returncode == 0, shown.stderr
    assert "pruned" in shown.stdout and "complete" in shown.stdout

    # rerunning a finished study runs nothing more and counts each trial once
    again = unisim("sweep", cfg, "--space", space, "--trials", 6, env=env)
    assert again.returncode == 0, again.stderr
    check_study_and_runs(client, load_study("tiny-space", url), 6)


# ---------------------------------------------------------------- bad space files


@pytest.mark.parametrize(
    ("param", "needle"),
    [
        ({"training.lrate": {"type": "float", "low": 1e-4, "high": 1e-2}}, "unknown config key"),
        ({"model.fno.width": {"type": "int", "low": 8, "high": 32}}, "unknown config key"),
        ({"training.lr": {"type": "float", "low": 1e-2, "high": 1e-4}}, "empty range"),
        ({"model.latent.dim": {"type": "categorical", "choices": []}}, "empty range"),
        ({"training.schedule": {"type": "float", "low": 0.1, "high": 0.5}}, "wrong type"),
        ({"training.lr": {"type": "float", "low": "x", "high": 1e-2}}, "low"),
        ({"training.lr": {"type": "uniform", "low": 1e-4, "high": 1e-2}}, "type must be"),
        ({"training.lr": {"type": "float", "low": -1.0, "high": 1e-2}}, "refused"),
        ({"model.latent.tokens": {"type": "categorical", "choices": [8, 5]}}, "refused"),
    ],
)
def test_bad_space_is_one_line_exit_2_nothing_written(cli, tmp_path, param, needle):
    cfg = write(tmp_path / "cfg.yaml", TINY)
    space = write(tmp_path / "bad.yaml", {"params": param})
    before = set(os.listdir(tmp_path))
    code, _, err = cli("sweep", cfg, "--space", space, "--trials", 2)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2, err
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert needle in lines[0] and "bad.yaml" in lines[0], err
    assert next(iter(param)) in lines[0], err
    assert set(os.listdir(tmp_path)) == before  # no store, no study, no folder


def test_a_grid_too_coarse_for_the_pde_is_refused_before_any_store(cli, tmp_path, files):
    cfg, space = files
    before = set(os.listdir(tmp_path))
    code, _, err = cli("sweep", cfg, "--space", space, "--set", "data.equation.nu=0.001")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "too coarse" in err, err
    assert set(os.listdir(tmp_path)) == before  # no store, no study, no data, no folder


def test_test_metric_is_refused(cli, tmp_path, files):
    cfg, space = files
    code, _, err = cli("sweep", cfg, "--space", space, "--metric", "final_nrmse")
    assert code == 2 and "validation" in err
    assert not (tmp_path / "mlruns").exists()


def test_load_data_reads_only_the_splits_asked_for(tmp_path, monkeypatch):
    from unisim.config import build_config
    from unisim.data import load_data

    log = tmp_path / "reads.log"
    monkeypatch.setenv("UNISIM_DATA_READ_LOG", str(log))
    data = build_config(TINY).data
    full = load_data(data)
    part = load_data(data, splits=("train", "val"))
    assert part.test.shape[0] == 0 and full.test.shape[0] == 4
    assert (part.val == full.val).all() and (part.train == full.train).all()
    assert log.read_text().splitlines()[-2:] == [
        f"train\t{part.path}",
        f"val\t{part.path}",
    ]


# ---------------------------------------------------------------- workers


def _two_workers(files, client, url: str, extra: list[str]) -> None:
    cfg, space = files
    out = unisim("sweep", cfg, "--space", space, "--trials", 4, "--workers", 2, *extra)
    assert out.returncode == 0, out.stderr
    study = load_study("tiny-space", url)
    check_study_and_runs(client, study, 4)
    assert all(t.user_attrs.get("pid") for t in study.trials), [t.user_attrs for t in study.trials]


@pytest.mark.slow
def test_asha_pruner_stops_trials_at_its_rungs(files, store, client, tmp_path):
    """Successive halving (rungs at epochs 1, 2; one in two goes on): useless trials stop."""
    cfg, _ = files
    space = write(
        tmp_path / "asha.yaml",
        {**SPACE, "pruner": {"name": "asha", "min_resource": 1, "reduction_factor": 2}},
    )
    out = unisim("sweep", cfg, "--space", space, "--trials", 4, "--study", "asha")
    assert out.returncode == 0, out.stderr
    study = load_study("asha", f"sqlite:///{tmp_path / 'store' / 'optuna.db'}")
    check_study_and_runs(client, study, 4)
    from optuna.trial import TrialState

    pruned = [t for t in study.trials if t.state == TrialState.PRUNED]
    assert pruned, [(t.state, t.intermediate_values) for t in study.trials]
    for t in pruned:  # stopped on a rung: after epoch 1 or 2, never later
        assert max(t.intermediate_values) in (1, 2), t.intermediate_values


@pytest.mark.slow
def test_two_workers_sqlite_finish_exactly_n(files, store, client, tmp_path):
    _two_workers(files, client, f"sqlite:///{tmp_path / 'store' / 'optuna.db'}", [])


@pytest.fixture
def pg_sweep_storage(pg_database):  # noqa: F811 (the imported fixture)
    """A database of its own beside ``pg_database`` (Optuna and MLflow tables collide)."""
    import psycopg

    name = pg_database.rsplit("/", 1)[1] + "_sweep"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    yield pg_database.rsplit("/", 1)[0] + "/" + name
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.slow
@pytest.mark.postgres
def test_two_workers_postgres_finish_exactly_n(files, store, client, pg_sweep_storage):
    extra = ["--storage", pg_sweep_storage, "--pruner", "hyperband"]  # and the other pruner
    _two_workers(files, client, pg_sweep_storage, extra)


# ---------------------------------------------------------------- kill -9 and resume


def _running_trial(db: Path) -> bool:
    """A trial RUNNING with its MLflow run open and an epoch reported."""
    if not db.is_file():
        return False
    try:
        with sqlite3.connect(db, timeout=1) as conn:
            rows = conn.execute(
                "SELECT t.trial_id FROM trials t JOIN trial_user_attributes a "
                "ON a.trial_id = t.trial_id JOIN trial_intermediate_values v "
                "ON v.trial_id = t.trial_id WHERE t.state = 'RUNNING' "
                "AND a.key = 'mlflow_run_id'"
            ).fetchall()
    except sqlite3.Error:
        return False
    return bool(rows)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_killed_worker_then_rerun_completes_the_study(files, store, client, tmp_path, sig):
    cfg, space = files
    slow = ["--set", "training.epochs=20", "--pruner", "none"]  # long enough to be caught
    args = [sys.executable, "-m", "unisim", "sweep", str(cfg), "--space", str(space)]
    args += ["--trials", "3", *slow]
    proc = subprocess.Popen(args, env=subprocess_env(), stderr=subprocess.PIPE, text=True)
    db = tmp_path / "store" / "optuna.db"
    deadline = time.time() + 120
    while not _running_trial(db) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    assert proc.poll() is None, proc.stderr.read()
    proc.send_signal(sig)
    code = proc.wait(timeout=60)
    assert code == (-9 if sig == signal.SIGKILL else 143)

    out = unisim("sweep", cfg, "--space", space, "--trials", 3, *slow)
    assert out.returncode == 0, out.stderr
    from optuna.trial import TrialState

    study = load_study("tiny-space", f"sqlite:///{db}")
    check_study_and_runs(client, study, 3)
    failed = [t for t in study.trials if t.state == TrialState.FAIL]
    assert len(failed) == 1  # the interrupted trial, not counted
    run = client.get_run(failed[0].user_attrs["mlflow_run_id"])
    assert run.info.status in ("KILLED", "FAILED")
    assert run.data.tags["unisim.trial_state"] == "fail"
    # the best config keeps the search's budget override, and its notes say so
    (sweep,) = [r for r in all_runs(client) if r.data.tags.get("unisim.sweep_best_dir")]
    notes = (Path(sweep.data.tags["unisim.sweep_best_dir"]) / "notes.md").read_text()
    assert "keeps the search's training budget (`training.epochs=20`)" in notes


@pytest.mark.parametrize(
    ("space", "overrides"),
    [("configs/sweeps/latent.yaml", []), ("configs/sweeps/fno.yaml", ["model.name=fno"])],
)
def test_shipped_spaces_load_against_the_golden_config(repo, space, overrides):
    from unisim.sweep.space import load_space

    loaded = load_space(repo / space, repo / "configs/train_burgers_golden.yaml", overrides)
    assert loaded.params and loaded.sampler.seed == 0


# ---------------------------------------------------------------- a worker on Vast.ai


def test_vast_launch_can_start_a_sweep_worker(tmp_path, monkeypatch, cli):
    from test_vast_helpers import OFFERS, git, make_repo, set_secrets

    from unisim.vast.backend import FakeBackend

    set_secrets(monkeypatch)
    fake = FakeBackend(offers=[dict(o) for o in OFFERS])
    monkeypatch.setattr("unisim.vast.backend.open_backend", lambda: fake)
    repo = make_repo(tmp_path)
    monkeypatch.chdir(repo.root)
    (repo.root / "configs" / "sweeps").mkdir()
    write(repo.root / "configs" / "sweeps" / "tiny.yaml", SPACE)
    args = ["vast", "launch", "configs/train_tiny.yaml", "--offer", "12", "--dry-run"]
    args += ["--sweep", "configs/sweeps/tiny.yaml", "--study", "shared", "--trials", "8"]
    code, _, err = cli(*args)
    assert code == 2 and "not committed" in err
    git(repo.root, "add", ".")
    git(repo.root, "commit", "-q", "-m", "space")
    git(repo.root, "push", "-q")
    code, _, err = cli(*args)
    assert code == 2 and "UNISIM_SWEEP_STORAGE" in err  # the study must be shared
    monkeypatch.setenv("UNISIM_SWEEP_STORAGE", "postgresql://u:pw-secret@db.example/sweeps")
    code, out, err = cli(*args)
    assert code == 0, err
    script = out.split("# ---- onstart script ----\n")[1].split("# ---- create_instance")[0]
    assert "UNISIM_SWEEP_SPACE=configs/sweeps/tiny.yaml" in script
    assert "UNISIM_SWEEP_STUDY=shared" in script and "UNISIM_SWEEP_TRIALS=8" in script
    assert '"UNISIM_SWEEP_STORAGE": "****"' in out and "pw-secret" not in out
    assert fake.instances == {}


def test_a_silent_worker_on_another_host_is_failed_by_its_heartbeat(store, monkeypatch, tmp_path):
    """Dead workers elsewhere: no heartbeat for the grace period -> FAIL, its run ended."""
    from optuna.trial import TrialState

    from unisim.sweep.run import open_study
    from unisim.sweep.space import SearchSpace
    from unisim.sweep.storage import fail_dead_trials
    from unisim.tracking import Kind, connect, start_run

    monkeypatch.setenv("UNISIM_SWEEP_HEARTBEAT_S", "1")  # grace period: 3 s
    space = SearchSpace.model_validate(SPACE)
    study = open_study("remote", f"sqlite:///{tmp_path / 'optuna.db'}", space)
    with start_run(kind=Kind.SWEEP, experiment="tiny", target=store) as sweep_run:
        pass
    storage = connect(store)
    run_id = storage.client.create_run(
        sweep_run.experiment_id,
        tags={"unisim.kind": "trial", "mlflow.parentRunId": sweep_run.run_id},
    ).info.run_id
    trial = study.ask()
    for key, value in {"host": "elsewhere", "pid": 4242, "mlflow_run_id": run_id}.items():
        trial.set_user_attr(key, value)
    study._storage.record_heartbeat(trial._trial_id)
    assert fail_dead_trials(study, storage) == []  # still within its grace period
    time.sleep(4)
    fail_dead_trials(study, storage)
    assert study.trials[0].state == TrialState.FAIL
    run = storage.client.get_run(run_id)
    assert run.info.status == "KILLED" and run.data.tags["unisim.trial_state"] == "fail"


def test_show_unknown_study_or_no_sweeps_is_one_line(cli, store, tmp_path):
    from unisim.sweep.run import open_study
    from unisim.sweep.space import SearchSpace

    code, _, err = cli("sweep", "show", "nope")
    assert code == 2 and "no sweeps yet" in err and len(err.strip().splitlines()) == 1
    open_study("other", f"sqlite:///{tmp_path / 'store' / 'optuna.db'}", SearchSpace(**SPACE))
    code, _, err = cli("sweep", "show", "nope")
    assert code == 2 and "no study 'nope'" in err and len(err.strip().splitlines()) == 1
    code, out, _ = cli("sweep", "show", "other")
    assert code == 0 and "0 trials" in out


def test_a_study_keeps_its_space(store, tmp_path):
    from unisim.errors import UnisimError
    from unisim.sweep.run import open_study
    from unisim.sweep.space import SearchSpace

    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    open_study("s", url, SearchSpace(**SPACE))
    other = {**SPACE, "params": {"training.lr": {"type": "float", "low": 1e-4, "high": 1e-2}}}
    with pytest.raises(UnisimError, match="another search space"):
        open_study("s", url, SearchSpace(**other))


@pytest.mark.slow  # a 6 s budget plus start-up: ~20 s on a loaded machine
def test_budget_stops_a_trial_still_training_and_does_not_count_it(files, store, client, cli):
    from optuna.trial import TrialState

    cfg, space = files
    code, out, err = cli(
        "sweep", cfg, "--space", space, "--trials", 3, "--budget-s", 6,
        "--set", "training.epochs=500", "--pruner", "none",
    )  # fmt: skip
    assert code == 0, err
    study = load_study("tiny-space", f"sqlite:///{Path(store.uri[10:]).parent / 'optuna.db'}")
    states = [t.state for t in study.trials]
    assert states == [TrialState.FAIL]  # cut short at the budget: not a finished trial
    assert "budget" in study.trials[0].user_attrs["fail_reason"]
    assert "trial 0 failed (the sweep's time budget ran out" in err  # the progress line
    runs = all_runs(client)
    assert not [r for r in runs if r.info.status == "RUNNING"]
    assert "3 trials to go" in out
