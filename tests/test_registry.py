"""``unisim registry list|show|rollback`` on champions made by real promotions."""

from __future__ import annotations

import json

import test_promote_helpers as helpers
from test_promote_helpers import champion, diff, flat, make_candidate, snapshot

template_db, pstore, pclient = helpers.template_db, helpers.pstore, helpers.pclient


def test_list_show_and_rollback_walk_the_champion_history(pstore, pclient, cli, tmp_path):
    runs = [make_candidate(pstore, f"exp-{i}", 0.3 - 0.1 * i) for i in range(3)]
    for run in runs:
        assert cli("promote", run, "--stage")[0] == 0  # TARGET may be a run id
    assert champion(pclient) == "3"

    code, out, _ = cli("registry", "list", "--json")
    assert code == 0
    [row] = json.loads(out)
    assert row["name"] == "burgers-surrogate" and row["champion"] == "3"
    assert row["previous_champion"] == "2" and row["url"].endswith("#/models/burgers-surrogate")

    code, out, _ = cli("registry", "show", "burgers-surrogate")
    assert code == 0
    assert "champion=v3" in flat(out) and "1 -> 2 -> 3" in flat(out)
    code, out, _ = cli("registry", "show", "burgers-surrogate", "2", "--json")
    assert code == 0
    info = json.loads(out)
    assert info["version"]["run_id"] == runs[1]
    assert info["version"]["aliases"] == ["previous-champion"]
    assert info["url"].endswith("#/models/burgers-surrogate/versions/2")

    before = snapshot(pclient, tmp_path)
    code, out, _ = cli("registry", "rollback", "--dry-run")
    assert code == 0 and "would move alias champion: version 3 -> 2" in flat(out)
    assert not diff(before, snapshot(pclient, tmp_path))

    def state():
        return champion(pclient), champion(pclient, alias="previous-champion")

    assert cli("registry", "rollback")[0] == 0
    assert state() == ("2", "1")
    stages = {
        str(v.version): v.current_stage
        for v in pclient.search_model_versions("name = 'burgers-surrogate'")
    }
    assert stages == {"1": "Archived", "2": "Production", "3": "Archived"}
    assert cli("registry", "rollback", "burgers-surrogate")[0] == 0
    assert state() == ("1", None)
    code, _, err = cli("registry", "rollback")
    assert code == 2 and "no previous-champion" in err and "--to VERSION" in err
    assert cli("registry", "rollback", "--to", "3")[0] == 0
    assert state() == ("3", "1")
    model = pclient.get_registered_model("burgers-surrogate")
    assert model.tags["unisim.champion_history"] == "1,3"

    for args, why in (
        (["rollback", "--to", "9"], "no version 9"),
        (["rollback", "--to", "3"], "already the champion"),
        (["show", "no-such-model"], "not found"),
        (["rollback", "no-such-model"], "not found"),
    ):
        code, _, err = cli("registry", *args)
        assert code == 2 and why in err, (args, err)


def test_registry_list_empty(pstore, cli):
    code, out, _ = cli("registry", "list")
    assert code == 0 and "no registered models" in out


def test_rollback_moves_every_record_back_to_the_previous_champion(pstore, pclient, cli, tmp_path):
    """promote v1, promote v2, rollback: aliases, run tags, configs/, metadata.json,
    `experiments list` and `registry show` all name v1 as the champion."""
    from pathlib import Path

    from test_promote_helpers import DATE

    a = make_candidate(pstore, "exp-a", 0.2)
    b = make_candidate(pstore, "exp-b", 0.1)
    assert cli("promote", "--run-id", a, "--update-leaderboard")[0] == 0
    assert cli("promote", "--run-id", b)[0] == 0
    assert champion(pclient) == "2"
    train = {r: pclient.get_run(r).data.tags["unisim.train_run"] for r in (a, b)}

    before = snapshot(pclient, tmp_path)
    code, out, _ = cli("registry", "rollback", "--dry-run")
    assert code == 0 and not diff(before, snapshot(pclient, tmp_path))
    for step in (
        "would move alias champion: version 2 -> 1",
        "would remove configs/train_exp-b.yaml",
        f"would tag run(s) {b}, {train[b]}: unisim.status=success",
        f"would record version 1 as champion again in experiments/{DATE}-exp-a/metadata.json",
    ):
        assert step in flat(out), step

    code, out, err = cli("registry", "rollback")
    assert code == 0, err
    assert champion(pclient) == "1" and champion(pclient, alias="previous-champion") is None
    for run in (a, train[a]):
        tags = pclient.get_run(run).data.tags
        assert tags["unisim.status"] == "promoted" and tags["unisim.model_version"] == "1"
    for run in (b, train[b]):
        tags = pclient.get_run(run).data.tags
        assert tags["unisim.status"] == "success" and "unisim.model_version" not in tags
    assert sorted(p.name for p in Path("configs").iterdir()) == ["train_exp-a.yaml"]
    assert a in Path("configs/train_exp-a.yaml").read_text()
    meta_a = json.loads(Path(f"experiments/{DATE}-exp-a/metadata.json").read_text())
    meta_b = json.loads(Path(f"experiments/{DATE}-exp-b/metadata.json").read_text())
    assert meta_a["promotion"]["model_version"] == "1" and meta_a["promotion"]["run_id"] == a
    assert meta_b["promotion"] is None
    assert meta_b["promotions"][-1]["event"] == "rolled back"
    import csv

    with Path("reports/leaderboard.csv").open() as fh:
        board = list(csv.DictReader(fh))
    assert [row["run_id"] for row in board] == [b, a]  # ranked by final_nrmse
    assert [row["alias"] for row in board] == ["", "champion"]

    code, out, _ = cli("experiments", "list", "--json")
    assert code == 0
    status = {row["name"]: (row["status"], row["model_version"]) for row in json.loads(out)}
    assert status[f"{DATE}-exp-a"] == ("promoted", "1")
    assert status[f"{DATE}-exp-b"] == ("success", None)
    code, out, _ = cli("registry", "show", "burgers-surrogate", "--json")
    assert json.loads(out)["aliases"] == {"champion": "1"}


def test_a_failed_rollback_changes_nothing(pstore, pclient, cli, tmp_path):
    from pathlib import Path

    from test_promote_helpers import DATE

    a = make_candidate(pstore, "exp-a", 0.2)
    b = make_candidate(pstore, "exp-b", 0.1)
    assert cli("promote", "--run-id", a)[0] == 0
    assert cli("promote", "--run-id", b)[0] == 0
    meta = Path(f"experiments/{DATE}-exp-a/metadata.json")
    meta.unlink()
    meta.mkdir()  # the last step cannot write it: everything before is undone
    before = snapshot(pclient, tmp_path)
    code, _, err = cli("registry", "rollback")
    assert code == 2 and "failed at metadata.json" in flat(err)
    assert "alias champion back on 2" in flat(err)
    assert not diff(before, snapshot(pclient, tmp_path))
    assert champion(pclient) == "2"
