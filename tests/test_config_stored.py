"""Configs that earlier runs stored still load, through every reader of stored configs.

``tests/fixtures/config_016a120.yaml`` is a ``config.yaml`` artifact as commit 016a120
wrote it: a latent model with the inert ``fno:`` section that every config carried
then. A user's file of that shape is refused today; a stored one is read by
``build_stored_config`` (run artifacts, checkpoints, promotion).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from unisim.config import (
    build_config,
    build_stored_config,
    dropped_sections,
    load_config,
    to_dict,
    to_yaml,
)
from unisim.errors import ConfigError

OLD = Path(__file__).resolve().parent / "fixtures" / "config_016a120.yaml"


def old_config() -> dict:
    return yaml.safe_load(OLD.read_text())


def test_an_old_stored_config_loads_without_the_other_architecture():
    data = old_config()
    assert dropped_sections(data) == ["model.fno"]
    cfg = build_stored_config(data, source="runs:/x/config.yaml")
    assert cfg.model.name == "latent" and cfg.model.latent.dim == 8
    assert "fno" not in to_dict(cfg)["model"]
    assert dropped_sections(to_dict(cfg)) == []
    # the same file written by a user is refused, with the key and the way out
    with pytest.raises(ConfigError, match=r"model\.fno: a section of model 'fno'"):
        load_config(OLD)


def test_stored_configs_are_records_not_checked_against_this_machine_or_renamed_metrics():
    data = old_config()
    data["gates"]["metrics"][0]["metric"] = "a_metric_since_renamed"
    data["data"]["n_train"] = 10**12  # ran on a bigger machine
    cfg = build_stored_config(data, source="<stored>")
    assert cfg.gates.metrics[0].metric == "a_metric_since_renamed"
    # the same gate in a user's config is refused
    with pytest.raises(ConfigError, match="unknown metric 'a_metric_since_renamed'"):
        build_config({"gates": data["gates"]}, source="user.yaml")


def test_a_checkpoint_written_by_older_code_gives_its_config():
    from unisim.training.checkpoint import checkpoint_config

    cfg = checkpoint_config({"config": old_config()}, "old.pt")
    assert cfg.model.name == "latent" and cfg.name == "old-run"


def test_a_run_artifact_written_by_older_code_gives_its_config(client, store):
    from unisim.evaluation.sources import run_config
    from unisim.tracking import connect

    exp = client.create_experiment("old")
    run = client.create_run(exp)
    client.log_text(run.info.run_id, OLD.read_text(), "config.yaml")
    cfg = run_config(connect(store), run.info.run_id)
    assert cfg is not None and cfg.model.name == "latent" and cfg.name == "old-run"


def test_promoting_an_older_run_writes_a_config_that_loads_today(store, client):
    import numpy as np
    import torch

    from unisim.registry.promote import promote_run
    from unisim.tracking import start_run

    with start_run(kind="pipeline", experiment="burgers", target=store) as parent:
        with start_run(
            kind="train", experiment="burgers", target=store, parent_run_id=parent.run_id
        ) as train:
            train.log_model(torch.nn.Linear(4, 4), input_example=np.zeros((1, 4), np.float32))
            train.log_text(OLD.read_text(), "config.yaml")
        parent.metrics.log({"final_nrmse": 0.2})
        parent.metrics.flush()
        parent.set_tags({"unisim.gates_passed": "true", "unisim.data_hash": "d"})
        result = promote_run(parent.run_id, target=store, auto=True)
    assert result.promoted and result.config_path is not None
    text = result.config_path.read_text()
    assert "\n  fno:" not in text
    cfg = load_config(result.config_path)
    assert to_yaml(cfg) == to_yaml(build_stored_config(old_config(), source="<stored>"))
