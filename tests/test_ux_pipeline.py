"""A day of use on one real project: run names, the pipeline page, metric names, reads,
a copied project, threads, the evaluate grid check and a model that loads without unisim.

One tiny project is built once for the module (``experiments new --from`` a config,
then ``unisim run`` with two ``--set`` overrides, against its own ./mlruns store); the
tests read it and never change what another test reads.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_pipeline import TINY

OVERRIDES = ["model.latent.dim=4", "training.threads=1"]


def _cli(*args: str) -> tuple[int, str, str]:
    from unisim.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([str(a) for a in args])
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A project folder: configs/tiny.yaml, experiments/EXP (made by `experiments new`),
    one pipeline run of it with OVERRIDES, in ./mlruns. Yields (root, ids)."""
    import torch

    from unisim.tracking import resolve_tracking

    root = tmp_path_factory.mktemp("project")
    (root / "configs").mkdir()
    config = TINY.replace("THRESHOLD", "10.0").replace(
        "name: tiny\n", "name: tiny\ndescription: Tiny latent (8 x 8 tokens)\n"
    )
    (root / "configs" / "tiny.yaml").write_text(config)
    saved = {k: os.environ.pop(k, None) for k in ("MLFLOW_TRACKING_URI", "UNISIM_PROFILE")}
    threads = torch.get_num_threads()
    torch.set_num_threads(2)  # the run's training.threads=1 must win
    try:
        with contextlib.chdir(root):
            code, out, err = _cli("experiments", "new", "tiny-exp", "--from", "configs/tiny.yaml")
            assert code == 0, out + err
            exp = next(Path("experiments").iterdir()).name  # YYYY-MM-DD-tiny-exp, today
            sets = [x for o in OVERRIDES for x in ("--set", o)]
            code, out, err = _cli("run", f"experiments/{exp}/config.yaml", *sets, "--strict-exit")
            assert code == 0, out + err
            threads_after = torch.get_num_threads()
            target = resolve_tracking()
        exp_id = _client(target).get_experiment_by_name(exp).experiment_id
        runs = {
            r.data.tags["unisim.kind"] + "/" + r.data.tags.get("unisim.stage", ""): r
            for r in _client(target).search_runs([exp_id])
        }
        yield {"root": root, "target": target, "runs": runs, "exp": exp, "exp_id": exp_id,
               "out": out, "threads_after": threads_after}  # fmt: skip
    finally:
        torch.set_num_threads(threads)
        for key, value in saved.items():
            if value is not None:
                os.environ[key] = value


def _client(target):
    from unisim.tracking import configure

    return configure(target)


@pytest.fixture
def in_project(project, monkeypatch):
    monkeypatch.chdir(project["root"])
    monkeypatch.setenv("MLFLOW_TRACKING_URI", project["target"].uri)
    return project


# ---------------------------------------------------------------- item 1: names


def test_runs_are_named_by_experiment_overrides_and_hash(in_project, cli):
    from unisim.config import config_hash, load_config

    runs, exp = in_project["runs"], in_project["exp"]
    parent = runs["pipeline/"]
    cfg = load_config(f"experiments/{exp}/config.yaml", OVERRIDES)
    assert parent.info.run_name == f"{exp} latent.dim=4,threads=1 {config_hash(cfg)[:7]}"
    names = {k: r.info.run_name for k, r in runs.items() if k != "pipeline/"}
    assert names == {"data/": "data", "train/": "train", "evaluate/fast": "evaluate-val",
                     "evaluate/full": "evaluate-test"}  # fmt: skip
    # experiments new gave the copy its own identity and recorded where it came from
    text = Path(f"experiments/{exp}/config.yaml").read_text()
    assert 'name: "tiny-exp"' in text and "name: tiny\n" not in text
    assert "based on configs/tiny.yaml" in text
    meta = json.loads(Path(f"experiments/{exp}/metadata.json").read_text())
    assert meta["base_config"] == "configs/tiny.yaml"
    # the file's description prose is not a param (it did not follow --set)
    assert "description" not in parent.data.params
    # promote refuses a production name that differs from an existing one only by -/_
    Path("configs/train_tiny_exp.yaml").write_text("name: tiny-exp\n")
    try:
        code, out, err = cli("promote", f"experiments/{exp}", "--dry-run")
    finally:
        Path("configs/train_tiny_exp.yaml").unlink()
    assert code == 2 and "train_tiny_exp.yaml" in err and "--config-name tiny_exp" in err
    assert len(err.strip().splitlines()) == 1 and not Path("configs/train_tiny-exp.yaml").exists()


# ---------------------------------------------------------------- item 5: the pipeline page


def test_pipeline_run_is_the_summary_page(in_project, cli):
    from unisim.tracking import configure

    client = configure(in_project["target"])
    runs = in_project["runs"]
    parent, train = runs["pipeline/"], runs["train/"]
    note = parent.data.tags["mlflow.note.content"]
    m = parent.data.metrics
    assert f"final_nrmse {m['final_nrmse']:.4g}" in note
    assert f"[{m['final_nrmse_low']:.4g}, {m['final_nrmse_high']:.4g}]" in note
    assert "gates **passed**" in note and "| final_nrmse | threshold |" in note
    for child in runs.values():
        if child is not parent:
            assert f"#/experiments/{in_project['exp_id']}/runs/{child.info.run_id}" in note
    assert f"runs:/{train.info.run_id}/model" in note and "not registered yet" in note
    assert "`model.latent.dim=4`" in note and "--set` overrides do not change it" in note
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id, "plots")}
    assert "plots/nrmse_vs_step.png" in artifacts
    # metric names that cannot collide; scalars without a step
    full = runs["evaluate/full"]
    assert "horizon/rollout_nrmse" in full.data.metrics and "rollout/nrmse" not in full.data.metrics
    assert (
        "horizon/one_step_nrmse" in full.data.metrics and "one_step/nrmse" not in full.data.metrics
    )
    assert (
        "eval_val/final_nrmse" in train.data.metrics and "val/final_nrmse" not in train.data.metrics
    )
    assert [p.step for p in client.get_metric_history(train.info.run_id, "fit/best_val_nrmse")] == [
        0
    ]
    # the logged model carries numeric metrics: what a registered version's page shows
    model = client.search_logged_models(
        experiment_ids=[in_project["exp_id"]],
        filter_string=f"source_run_id = '{train.info.run_id}'",
    )[0]
    assert {"final_nrmse", "eval_val/final_nrmse"} <= {x.key for x in model.metrics}
    # runs show: the children, and no vast.* params on a local run
    code, out, _ = cli("runs", "show", parent.info.run_id, "--json")
    shown = json.loads(out)
    assert [c["name"] for c in shown["children"]] == ["data", "train", "evaluate-val",
                                                      "evaluate-test"]  # fmt: skip
    assert not [k for k in shown["params"] if k.startswith("vast.")]
    assert not [k for k in parent.data.params if k.startswith("vast.")]
    code, out, _ = cli("runs", "show", parent.info.run_id)
    assert "child runs (4)" in out and "evaluate-test" in out


# ---------------------------------------------------------------- item 9: threads


def test_training_threads_are_applied_and_recorded(in_project):

    train = in_project["runs"]["train/"]
    assert train.data.tags["unisim.threads"] == "1" and in_project["threads_after"] == 1
    assert train.data.params["training.threads"] == "1"


def test_default_threads_are_physical_cores_split_between_ranks(monkeypatch):
    import psutil

    from unisim.training import threads

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)
    monkeypatch.setattr(psutil, "cpu_count", lambda logical=True: 16 if logical else 8)
    monkeypatch.setattr(threads, "_cgroup_cpus", lambda: None)
    assert threads.available_cores() == 4  # 8 logical CPUs allowed, 2 hyper-threads a core
    assert threads.resolve_threads(None, world_size=2) == 2
    assert threads.resolve_threads(3, world_size=2) == 3
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert threads.resolve_threads(None) == 1


# ---------------------------------------------------------------- item 10: grid check first


def test_evaluate_refuses_a_grid_before_generating_its_data(in_project, cli):
    cache = Path("data/cache")
    before = sorted(cache.iterdir())
    train = in_project["runs"]["train/"].info.run_id
    code, out, err = cli("evaluate", train, "--set", "data.nx=64", "--set", "data.solver_nx=256")
    assert code == 2 and "nx=32" in err and "nx=64" in err, out + err
    assert sorted(cache.iterdir()) == before  # no dataset for a grid the model cannot use


# ---------------------------------------------------------------- item 2: a copied project


def test_a_copied_project_never_writes_into_the_original(in_project, tmp_path):
    import sqlite3

    root = in_project["root"]
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)  # a real copy: SQLite store, artifacts, experiment folder
    artifacts = root / "mlruns" / "artifacts"
    before = sorted(p.relative_to(root) for p in artifacts.rglob("*"))

    def n_runs(folder: Path) -> int:
        with contextlib.closing(sqlite3.connect(folder / "mlruns" / "mlflow.db")) as db:
            return db.execute("SELECT count(*) FROM runs").fetchone()[0]

    runs_before = n_runs(copy)
    env = {
        k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "UNISIM_PROFILE")
    }
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    proc = subprocess.run(
        [sys.executable, "-m", "unisim", "run", f"experiments/{in_project['exp']}/config.yaml"],
        cwd=copy, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stdout + proc.stderr
    err = proc.stderr.strip()
    assert len(err.splitlines()) == 1 and "copied or moved" in err and str(root / "mlruns") in err
    assert sorted(p.relative_to(root) for p in artifacts.rglob("*")) == before
    assert n_runs(copy) == runs_before and n_runs(root) == runs_before

    # a project moved away (its old folder gone): refused too, nothing written outside it
    def unisim(*args: str, cwd: Path) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "unisim", *args], cwd=cwd, env=env, capture_output=True,
            text=True, timeout=300,
        )  # fmt: skip

    assert unisim("experiments", "new", "moved", cwd=copy).returncode == 0
    moved = tmp_path / "moved"
    copy.rename(moved)
    (folder,) = Path(moved, "experiments").glob("*-moved")
    proc = unisim("run", str(folder.relative_to(moved) / "config.yaml"), cwd=moved)
    assert proc.returncode == 2 and "no longer exists" in proc.stderr, proc.stderr
    assert not copy.exists()


# ---------------------------------------------------------------- item 4: SQL and API agree


def test_read_views_agree_between_sql_and_the_api(in_project, monkeypatch):
    from unisim.registry.models import list_models
    from unisim.reports import runs as R
    from unisim.reports.leaderboard import leaderboard_rows
    from unisim.tracking import sqlreads

    target = in_project["target"]
    parent = in_project["runs"]["pipeline/"].info.run_id
    train = in_project["runs"]["train/"].info.run_id

    def read_all():
        show = R.show_run(target, parent).to_dict()
        return {
            "list": [r.to_dict() for r in R.list_runs(target, in_project["exp"], limit=10)],
            "show": {k: v for k, v in show.items() if k != "artifacts"},
            "artifacts": [a.rstrip("/") for a in show["artifacts"]],
            "compare": R.compare_runs(target, [parent, train]).to_dict(),
            "board": leaderboard_rows(target),
            "models": list_models(target),
        }

    sql = read_all()

    @contextlib.contextmanager
    def no_sql(_target):
        yield None

    monkeypatch.setattr(sqlreads, "open_reader", no_sql)
    api = read_all()
    assert sql["list"] and sql["board"]
    for key in sql:
        assert sql[key] == api[key], key


# ---------------------------------------------------------------- item 11: the logged model


def test_logged_model_loads_where_unisim_is_not_installed(in_project, tmp_path):
    """``python -S`` skips site.py, so no .pth file runs, which is how the editable install
    of unisim (and only it) gets onto sys.path; the venv's site-packages are added back by
    hand, the repository is not on the path, PYTHONPATH is unset, the cwd is empty."""
    import site
    import sysconfig

    train = in_project["runs"]["train/"].info.run_id
    paths = [
        p for p in {sysconfig.get_paths()["purelib"], *site.getsitepackages()} if Path(p).is_dir()
    ]
    script = (
        "import sys\n"
        f"sys.path += {paths!r}\n"
        "try:\n    import unisim\nexcept ImportError:\n    pass\n"
        "else:\n    raise SystemExit('unisim importable: ' + str(unisim.__file__))\n"
        "import mlflow.pytorch, torch\n"
        f"model = mlflow.pytorch.load_model('runs:/{train}/model', map_location='cpu')\n"
        "x = torch.zeros(3, 1, 32)\n"
        "print('OUT', tuple(model(x, cond=torch.full((3, 1), 0.1)).shape))\n"
        "print('FROM', type(model).__module__, sys.modules[type(model).__module__].__file__)\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["MLFLOW_TRACKING_URI"] = in_project["target"].uri
    cwd = tmp_path / "empty"
    cwd.mkdir()
    proc = subprocess.run(
        [sys.executable, "-S", "-c", script], cwd=cwd, env=env, capture_output=True,
        text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr[-3000:]
    assert "OUT (3, 32)" in proc.stdout
    repo = str(Path(__file__).resolve().parents[1])
    origin = proc.stdout.split("FROM", 1)[1]
    assert repo not in origin and "/code/unisim/models/nets/" in origin
