"""The test split is read by the full evaluation alone (issue 17): training, its per-epoch
validation and the fast evaluation never open it; the held-out split is read only when
asked for. Checked through ``UNISIM_DATA_READ_LOG``, which ``load_data`` appends one line
to for every split it reads (the sweep's own check is in test_sweep.py)."""

from __future__ import annotations

from pathlib import Path

import yaml

TINY = {
    "name": "tiny",
    "seed": 1,
    "data": {
        "nu": 0.1, "nx": 32, "solver_nx": 256, "nt": 8,
        "n_train": 8, "n_val": 4, "n_test": 4, "n_heldout": 4,
    },
    "model": {
        "name": "latent",
        "latent": {"dim": 4, "tokens": 8, "processor": "mlp", "layers": 1, "hidden": 8},
    },
    "training": {"epochs": 2, "batch_size": 8, "rollout_steps": 2, "device": "cpu"},
    "evaluation": {"plot_trajectories": 0},
    "tracking": {"experiment": "tiny"},
}  # fmt: skip


def reads(log: Path) -> list[str]:
    lines = log.read_text().splitlines() if log.exists() else []
    log.unlink(missing_ok=True)
    return sorted({line.split("\t")[0] for line in lines})


def test_training_and_fast_evaluation_never_read_the_test_split(
    tmp_path, monkeypatch, store, client, cli
) -> None:
    log = tmp_path / "reads.log"
    monkeypatch.setenv("UNISIM_DATA_READ_LOG", str(log))
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump(TINY))

    code, out, err = cli("train", str(cfg), "--no-progress")
    assert code == 0, out + err
    assert reads(log) == ["train", "val"]  # per-epoch validation included
    (train,) = client.search_runs(
        [client.get_experiment_by_name("tiny").experiment_id], "tags.`unisim.kind` = 'train'"
    )
    run_id = train.info.run_id

    code, out, err = cli("evaluate", run_id, "--split", "val", "--no-plots")
    assert code == 0, out + err
    assert reads(log) == ["val"]

    code, out, err = cli("evaluate", run_id, "--split", "heldout", "--no-plots")
    assert code == 0, out + err
    assert reads(log) == ["heldout"]

    code, out, err = cli("evaluate", run_id, "--split", "test", "--no-plots")
    assert code == 0, out + err
    assert reads(log) == ["test"]  # the full evaluation: the one reader of the test split
