"""Promotion against a tmp SQLite store: flow, validation refusals, dry run, undo, auto mode."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import test_promote_helpers as helpers
from test_promote_helpers import DATE, champion, diff, flat, make_candidate, snapshot

from unisim.config import config_hash, load_config
from unisim.tracking import TAG_CONFIG_HASH

template_db, pstore, pclient = helpers.template_db, helpers.pstore, helpers.pclient


def test_promote_flow_registers_champion_and_writes_records(pstore, pclient, cli, tmp_path):
    make_candidate(pstore, "exp-a", 0.2)
    best = make_candidate(pstore, "exp-a", 0.1)
    make_candidate(pstore, "exp-a", 0.05, gates=False)  # better but failed its gates

    code, out, err = cli("promote", f"experiments/{DATE}-exp-a")
    assert code == 0, err
    assert "#/models/burgers-surrogate/versions/1" in flat(out)
    assert champion(pclient) == "1"
    mv = pclient.get_model_version("burgers-surrogate", "1")
    run = pclient.get_run(best)
    train_id = run.data.tags["unisim.train_run"]
    assert mv.run_id == train_id
    assert mv.tags["unisim.run_id"] == best
    assert mv.tags["unisim.data_hash"] == "data-a"
    assert float(mv.tags["unisim.final_nrmse"]) == pytest.approx(0.1)
    assert mv.tags["unisim.gates_passed"] == "true"
    assert mv.tags["unisim.config_hash"] == run.data.tags[TAG_CONFIG_HASH]
    assert best in mv.description

    # production config: header names run, version, metrics; the body loads to the same config
    path = Path("configs/train_exp-a.yaml")
    text = path.read_text()
    header = "\n".join(line for line in text.splitlines() if line.startswith("#"))
    assert best in header and "version 1" in header and "final_nrmse=0.1" in header
    assert config_hash(load_config(path)) == run.data.tags[TAG_CONFIG_HASH]

    # records on both runs and in the experiment folder
    for run_id in (best, train_id):
        tags = pclient.get_run(run_id).data.tags
        assert tags["unisim.status"] == "promoted"
        assert tags["unisim.model_version"] == "1"
    meta = json.loads(Path(f"experiments/{DATE}-exp-a/metadata.json").read_text())
    assert meta["promotion"]["model_version"] == "1"
    assert meta["promotion"]["run_id"] == best
    assert len(meta["promotions"]) == 1

    # a better run of another experiment, named without its date, to another folder
    b = make_candidate(pstore, "exp-b", 0.05)
    code, out, err = cli(
        "promote", "exp-b", "--config-name", "golden-b", "--production-dir", "prod"
    )
    assert code == 0, err
    assert champion(pclient) == "2"
    assert champion(pclient, alias="previous-champion") == "1"
    model = pclient.get_registered_model("burgers-surrogate")
    assert model.tags["unisim.champion_history"] == "1,2"
    assert Path("prod/train_golden-b.yaml").read_text().count(b) >= 1

    # the champion alias serves the model that run logged
    import mlflow.pytorch
    import torch

    net = mlflow.pytorch.load_model("models:/burgers-surrogate@champion")
    torch.manual_seed(16)
    assert torch.equal(net.weight, torch.nn.Linear(4, 4).weight)


def test_validation_failures_change_nothing(pstore, pclient, cli, tmp_path):
    a = make_candidate(pstore, "exp-a", 0.1)
    assert cli("promote", "--run-id", a)[0] == 0
    cases = {
        "gates_passed": make_candidate(pstore, "exp-g", 0.01, gates=False),
        "better_than_champion: final_nrmse 0.15 >=": make_candidate(pstore, "exp-w", 0.15),
        "not comparable": make_candidate(pstore, "exp-d", 0.05, data_hash="data-b"),
        "model: logged model": make_candidate(pstore, "exp-n", 0.05, model=False),
        "run_state": make_candidate(pstore, "exp-f", 0.05, fail=True),
        "already the champion": a,
    }
    threshold = make_candidate(pstore, "exp-t", 0.05)
    runs = [(["--run-id", rid], why) for why, rid in cases.items()]
    runs.append((["--run-id", threshold, "--nrmse-threshold", "0.01"], "nrmse_threshold"))
    runs.append(([f"experiments/{DATE}-exp-g"], "passed its gates"))
    before = snapshot(pclient, tmp_path)
    for args, why in runs:
        code, out, err = cli("promote", *args)
        assert code == 1, (args, out, err)
        assert why in flat(err), (why, err)
        assert "Traceback" not in err
        assert not diff(before, snapshot(pclient, tmp_path)), why

    # the gates' cached evaluation of the champion on the candidate's data makes it comparable
    pclient.set_model_version_tag(
        "burgers-surrogate",
        "1",
        "unisim.eval_cache.v1.test.s1.mall.data-b",
        json.dumps({"metrics": {"final_nrmse": 0.2}}),
    )
    code, out, err = cli("promote", "--run-id", cases["not comparable"])
    assert code == 0, err
    assert "champion evaluated by the gates" in flat(out)
    assert champion(pclient) == "2"

    # --force promotes a run that is not better (and says so)
    code, out, err = cli(
        "promote", "--run-id", cases["better_than_champion: final_nrmse 0.15 >="], "--force"
    )
    assert code == 0, err
    assert "(--force)" in flat(out)
    assert champion(pclient) == "3"

    # a better run of an experiment already in production replaces its config: no --force
    newer = make_candidate(pstore, "exp-a", 0.08)
    code, out, err = cli("promote", "--run-id", newer)
    assert code == 0, err
    assert "final_nrmse 0.08 < champion v3's 0.15" in flat(out)
    assert "will be overwritten (beats the champion)" in flat(out)
    assert newer in Path("configs/train_exp-a.yaml").read_text()


def test_force_overrides_a_failed_comparison_and_never_skips_it(pstore, pclient, cli):
    assert cli("promote", "--run-id", make_candidate(pstore, "exp-a", 0.2))[0] == 0
    worse = make_candidate(pstore, "exp-a", 0.3)  # its production config exists too
    code, _, err = cli("promote", "--run-id", worse)
    assert code == 1 and "better_than_champion: final_nrmse 0.3 >= champion v1's 0.2" in flat(err)
    assert "production_config" not in flat(err)  # the config is not what stops it
    code, out, err = cli("promote", "--run-id", worse, "--force")
    assert code == 0, err
    assert "final_nrmse 0.3 >= champion v1's 0.2" in flat(out) and "(--force)" in flat(out)
    assert "will be overwritten (--force)" in flat(out)
    assert worse in Path("configs/train_exp-a.yaml").read_text()


def test_dry_run_shows_every_step_and_writes_nothing(pstore, pclient, cli, tmp_path):
    a = make_candidate(pstore, "exp-a", 0.1)
    b = make_candidate(pstore, "exp-b", 0.05)
    before = snapshot(pclient, tmp_path)
    code, out, _ = cli("promote", "--run-id", a, "--dry-run", "--update-leaderboard")
    assert code == 0
    text = flat(out)
    for step in (
        "would create registered model 'burgers-surrogate'",
        "would register a new version",
        "would set alias champion",
        "would write configs/train_exp-a.yaml",
        "would tag run(s)",
        f"would record the promotion in experiments/{DATE}-exp-a/metadata.json",
        "would rewrite leaderboard export reports/leaderboard.csv",
        "nothing was written",
    ):
        assert step in text, step
    assert not diff(before, snapshot(pclient, tmp_path))

    assert cli("promote", "--run-id", a)[0] == 0
    before = snapshot(pclient, tmp_path)
    code, out, _ = cli("promote", "--run-id", b, "--dry-run", "--stage")
    assert code == 0
    assert "would set alias previous-champion -> version 1" in flat(out)
    assert "would transition a new version to Production" in flat(out)
    assert not diff(before, snapshot(pclient, tmp_path))


def test_failure_after_registering_is_undone(pstore, pclient, cli, tmp_path):
    a = make_candidate(pstore, "exp-a", 0.1)
    b = make_candidate(pstore, "exp-b", 0.05)
    # metadata.json is a folder: the promotion fails after registry, config and tags
    Path(f"experiments/{DATE}-exp-a/metadata.json").mkdir()
    before = snapshot(pclient, tmp_path)
    code, _, err = cli("promote", "--run-id", a)
    assert code == 2
    assert "failed at metadata.json" in flat(err) and "version 1 deleted" in flat(err)
    assert "registered model 'burgers-surrogate' deleted" in flat(err)
    assert not diff(before, snapshot(pclient, tmp_path))

    Path(f"experiments/{DATE}-exp-a/metadata.json").rmdir()
    assert cli("promote", "--run-id", a)[0] == 0
    champ = champion(pclient)
    Path(f"experiments/{DATE}-exp-b/metadata.json").mkdir()
    before = snapshot(pclient, tmp_path)
    code, _, err = cli("promote", "--run-id", b, "--stage")
    assert code == 2
    assert f"alias champion back on {champ}" in flat(err)
    assert not diff(before, snapshot(pclient, tmp_path))
    assert not Path("configs/train_exp-b.yaml").exists()


def test_stage_moves_production_and_warns(pstore, pclient, cli):
    a = make_candidate(pstore, "exp-a", 0.1)
    b = make_candidate(pstore, "exp-b", 0.05)
    assert cli("promote", "--run-id", a, "--stage")[0] == 0
    code, out, err = cli("promote", "--run-id", b, "--stage")
    assert code == 0
    assert "deprecated" in flat(err)
    stages = {
        str(v.version): v.current_stage
        for v in pclient.search_model_versions("name = 'burgers-surrogate'")
    }
    assert stages == {"1": "Archived", "2": "Production"}


def test_auto_promote_from_inside_a_running_pipeline(pstore, pclient, cli):
    import numpy as np
    import torch

    from unisim.registry.promote import promote_run
    from unisim.tracking import start_run

    refused = make_candidate(pstore, "exp-g", 0.01, gates=False)
    result = promote_run(refused, target=pstore, auto=True)
    assert not result.promoted and "gates_passed" in result.reason
    code, _, err = cli("promote", "--run-id", refused, "--auto-promote")
    assert code == 1 and "not promoted" in flat(err)

    with start_run(kind="pipeline", experiment="burgers", target=pstore) as parent:
        with start_run(
            kind="train", experiment="burgers", target=pstore, parent_run_id=parent.run_id
        ) as train:
            train.log_model(torch.nn.Linear(4, 4), input_example=np.zeros((1, 4), np.float32))
            train.log_text("name: burgers\n", "config.yaml")
        parent.metrics.log({"final_nrmse": 0.2})
        parent.metrics.flush()
        parent.set_tags({"unisim.gates_passed": "true", "unisim.data_hash": "d"})
        result = promote_run(parent.run_id, target=pstore, auto=True)
        assert result.promoted and result.version == "1"
        assert result.config_path == Path("configs/train_burgers.yaml")
    assert pclient.get_run(parent.run_id).data.tags["unisim.status"] == "promoted"
    assert pclient.get_model_version("burgers-surrogate", "1").tags["unisim.promoted_by"] == "auto"


def test_bad_input_exits_2_with_one_line(pstore, cli):
    for args in (
        ["no-such-experiment"],
        [],
        ["--run-id", "0" * 32],
    ):
        code, _, err = cli("promote", *args)
        assert code == 2, args
        assert err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
    make_candidate(pstore, "exp-a", 0.1, model=False)
    code, _, err = cli("promote", "exp-a", "--config-name", "../evil")
    assert code == 2 and "--config-name '../evil'" in err
    assert not Path("configs").exists()
