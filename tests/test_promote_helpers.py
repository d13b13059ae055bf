"""Helpers shared by the promotion, registry and leaderboard tests (no tests here).

``pstore`` is a fresh SQLite store per test, copied from a template database made
once per session (MLflow's schema migrations cost seconds each time otherwise).
``make_candidate`` builds what ``unisim run`` leaves behind: a pipeline parent run
(metrics, tags, config.yaml) with a nested train run holding a tiny torch model.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

DATE = "2026-11-29"
SCORES = [0.31, 0.12, 0.27, 0.05, 0.22, 0.18, 0.09, 0.15]  # run 3 is the best


@pytest.fixture(scope="session")
def template_db(_template_db: Path) -> Path:
    """conftest's migrated template database (for the module-scoped server)."""
    return _template_db


@pytest.fixture
def pstore(store):
    """conftest's fresh SQLite store, under the name the promotion tests use."""
    return store


@pytest.fixture
def pclient(client):
    return client


def make_candidate(
    target,
    name: str,
    final_nrmse: float,
    *,
    gates: bool = True,
    data_hash: str = "data-a",
    fail: bool = False,
    model: bool = True,
    folder: bool = True,
    model_name: str = "burgers-surrogate",
    latent_dim: int = 16,
    cost_usd: float | None = 0.25,
    kind: str = "pipeline",
) -> str:
    """A finished pipeline run of experiment ``DATE-name`` (folder in experiments/); its id."""
    from unisim.config import build_config, to_yaml
    from unisim.tracking import TAG_DATA_HASH, TAG_GATES_PASSED, TAG_STATUS, start_run

    cfg = build_config(
        {
            "name": name,
            "data": {"nx": 32, "solver_nx": 64, "n_train": 4, "n_val": 2, "n_test": 2},
            "model": {"latent": {"dim": latent_dim, "tokens": 8}},
            "training": {"epochs": 1},
            "registry": {"model_name": model_name},
        }
    )
    exp = f"{DATE}-{name}"
    config_path = None
    if folder:
        config_path = Path("experiments") / exp / "config.yaml"
        config_path.parent.mkdir(parents=True, exist_ok=True)
        config_path.write_text(to_yaml(cfg))
    pipeline_id = ""
    try:
        with start_run(
            kind=kind, experiment=exp, target=target, cfg=cfg, config_path=config_path
        ) as parent:
            pipeline_id = parent.run_id
            train_id = parent.run_id
            if kind == "pipeline":
                with start_run(
                    kind="train",
                    experiment=exp,
                    target=target,
                    cfg=cfg,
                    config_path=config_path,
                    parent_run_id=parent.run_id,
                ) as train:
                    train_id = train.run_id
                    _train(train, model, latent_dim)
                parent.set_tags({"unisim.train_run": train_id})
            else:
                _train(parent, model, latent_dim)
            parent.metrics.log(
                {"final_nrmse": final_nrmse, "one_step_nrmse": final_nrmse / 10, "wall_clock_s": 9}
            )
            if cost_usd is not None:
                parent.metrics.log({"cost_usd": cost_usd})
            parent.set_tags(
                {
                    TAG_GATES_PASSED: "true" if gates else "false",
                    TAG_DATA_HASH: data_hash,
                    TAG_STATUS: "success" if gates else "failed",
                }
            )
            if fail:
                raise RuntimeError("boom")
    except RuntimeError:
        assert fail
    return pipeline_id


def _train(run, model: bool, latent_dim: int) -> None:
    import numpy as np
    import torch

    torch.manual_seed(latent_dim)
    net = torch.nn.Linear(4, 4)
    run.metrics.log({"n_params": sum(p.numel() for p in net.parameters()), "wall_clock_s": 3.5})
    if model:
        run.log_model(net, input_example=np.zeros((1, 4), dtype=np.float32))


def snapshot(client, root: Path) -> dict:
    """Registry, run tags and files under ``root`` (store and locks excluded), for equality."""
    from mlflow.entities import ViewType

    registry = {}
    for model in client.search_registered_models():
        versions = client.search_model_versions(f"name = '{model.name}'")
        registry[model.name] = {
            "aliases": dict(model.aliases),
            "tags": dict(model.tags),
            "versions": {
                str(v.version): (dict(v.tags), v.current_stage, v.description) for v in versions
            },
        }
    runs = {}
    for exp in client.search_experiments(view_type=ViewType.ALL):
        for run in client.search_runs([exp.experiment_id]):
            runs[run.info.run_id] = (run.info.status, dict(run.data.tags))
    files = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if rel.parts[0] in ("store", "mlruns", "server") or path.suffix == ".lock":
            continue
        if path.is_file():
            files[str(rel)] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            files[str(rel)] = "dir"
    return {"registry": registry, "runs": runs, "files": files}


def diff(before: dict, after: dict) -> list[str]:
    """What changed between two snapshots, one line per changed key (empty when equal)."""
    lines = []
    for part in ("registry", "runs", "files"):
        old, new = before[part], after[part]
        for key in sorted(set(old) | set(new)):
            if old.get(key) != new.get(key):
                lines.append(f"{part}: {key}: {old.get(key)!r} -> {new.get(key)!r}")
    return lines


def champion(client, name: str = "burgers-surrogate", alias: str = "champion") -> str | None:
    value = client.get_registered_model(name).aliases.get(alias)
    return None if value is None else str(value)


def flat(text: str) -> str:
    """Terminal output with rich's line wrapping undone."""
    return " ".join(text.split())


def check_parallel_promotions(target, client, cwd: Path) -> None:
    """Promote eight runs from eight processes at once; check registry, tags, files."""
    from conftest import subprocess_env

    from unisim.config import load_config

    pclient = client
    runs = [make_candidate(target, f"exp-{i}", s) for i, s in enumerate(SCORES)]
    env = subprocess_env()
    env["MLFLOW_TRACKING_URI"] = target.uri
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "unisim", "promote", "--run-id", run, "--update-leaderboard"],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for run in runs
    ]
    outcomes = {
        run: (p.communicate(timeout=300), p.returncode) for run, p in zip(runs, procs, strict=True)
    }

    winners = [run for run, (_, code) in outcomes.items() if code == 0]
    for (_, err), code in outcomes.values():
        assert code in (0, 1), err
        if code == 1:  # refused only because a better champion was already in place
            assert "better_than_champion" in err and "Traceback" not in err, err
    best = runs[SCORES.index(min(SCORES))]
    assert best in winners

    # the registry: every winner registered exactly once, in order of improvement
    versions = sorted(
        pclient.search_model_versions("name = 'burgers-surrogate'"), key=lambda v: int(v.version)
    )
    assert sorted(v.tags["unisim.run_id"] for v in versions) == sorted(winners)
    scores = [float(v.tags["unisim.final_nrmse"]) for v in versions]
    assert scores == sorted(scores, reverse=True) and len(set(scores)) == len(scores)
    by_run = {v.tags["unisim.run_id"]: str(v.version) for v in versions}
    assert champion(pclient) == by_run[best]
    order = [str(v.version) for v in versions]
    model = pclient.get_registered_model("burgers-surrogate")
    assert model.tags["unisim.champion_history"] == ",".join(order)
    previous = order[-2] if len(order) > 1 else None
    assert champion(pclient, alias="previous-champion") == previous

    # run tags agree with the registry
    for run in runs:
        tags = pclient.get_run(run).data.tags
        if run in winners:
            assert tags["unisim.status"] == "promoted"
            assert tags["unisim.model_version"] == by_run[run]
        else:
            assert tags["unisim.status"] == "success" and "unisim.model_version" not in tags

    # production configs: one per winner, each whole and naming its own version
    files = sorted(p.name for p in Path("configs").iterdir())
    assert files == sorted(f"train_exp-{runs.index(r)}.yaml" for r in winners)
    for run in winners:
        path = Path(f"configs/train_exp-{runs.index(run)}.yaml")
        assert f"version {by_run[run]} " in path.read_text() and run in path.read_text()
        assert load_config(path).name == f"exp-{runs.index(run)}"

    # the leaderboard export: written last by the last winner, so it shows the final state
    board = pd.read_csv("reports/leaderboard.csv", dtype={"model_version": str})
    board = board[board["run_id"].isin(runs)].reset_index(drop=True)  # a shared server has more
    assert list(board["run_id"]) == [runs[i] for i in sorted(range(8), key=SCORES.__getitem__)]
    assert board.loc[0, "alias"] == "champion" and board.loc[0, "model_version"] == by_run[best]
    assert sorted(p.name for p in Path("reports").iterdir()) == [
        "leaderboard.csv",
        "leaderboard.html",
    ]
