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
