"""Numbers under different protocols are never ranked together (leaderboard, compare, promote)."""

from __future__ import annotations

import json

import test_promote_helpers as helpers
from test_promote_helpers import flat, make_candidate

template_db, pstore, pclient = helpers.template_db, helpers.pstore, helpers.pclient

GRID_A = ("a1b2c3d4", "burgers nu=0.01 | x128 t41 | test 64 | ctx 1 -> 40 | nRMSE v1")
GRID_B = ("e5f6a7b8", "burgers nu=0.01 | x256 t41 | test 64 | ctx 10 -> 31 | nRMSE v1")


def tag_protocol(client, run_id: str, protocol: tuple[str, str]) -> None:
    client.set_tag(run_id, "unisim.protocol", protocol[0])
    client.set_tag(run_id, "unisim.protocol_summary", protocol[1])


def test_leaderboard_ranks_within_each_protocol(pstore, pclient, cli):
    a1 = make_candidate(pstore, "exp-a", 0.20)
    a2 = make_candidate(pstore, "exp-a", 0.10)
    b1 = make_candidate(pstore, "exp-b", 0.05)  # better number, other protocol: not "first"
    for run, proto in ((a1, GRID_A), (a2, GRID_A), (b1, GRID_B)):
        tag_protocol(pclient, run, proto)
    code, out, _ = cli("leaderboard", "--json")
    assert code == 0
    rows = json.loads(out)
    ranks = {(r["protocol"], r["run_id"]): r["rank"] for r in rows}
    assert ranks == {(GRID_A[0], a2): 1, (GRID_A[0], a1): 2, (GRID_B[0], b1): 1}
    code, out, _ = cli("leaderboard")
    assert f"protocol {GRID_A[0]}: {GRID_A[1]} (2 runs)" in flat(out)
    assert f"protocol {GRID_B[0]}" in flat(out) and "in 2 protocols" in out
    code, out, _ = cli("leaderboard", "--protocol", "e5f6", "--json")
    assert [r["run_id"] for r in json.loads(out)] == [b1]


def test_compare_warns_when_protocols_differ(pstore, pclient, cli):
    a = make_candidate(pstore, "exp-a", 0.2)
    b = make_candidate(pstore, "exp-b", 0.1)
    same = make_candidate(pstore, "exp-c", 0.3)
    tag_protocol(pclient, a, GRID_A)
    tag_protocol(pclient, b, GRID_B)
    tag_protocol(pclient, same, GRID_A)
    code, _, err = cli("runs", "compare", a, b)
    assert code == 0 and "different protocols" in flat(err) and GRID_B[0] in err
    code, _, err = cli("runs", "compare", a, same)
    assert code == 0 and "different protocols" not in err


def test_promotion_refuses_to_rank_against_a_champion_of_another_protocol(pstore, pclient, cli):
    a = make_candidate(pstore, "exp-a", 0.2)
    b = make_candidate(pstore, "exp-b", 0.1)
    tag_protocol(pclient, a, GRID_A)
    tag_protocol(pclient, b, GRID_B)
    assert cli("promote", "--run-id", a)[0] == 0
    mv = pclient.get_model_version("burgers-surrogate", "1")
    assert mv.tags["unisim.protocol"] == GRID_A[0]  # the version records its protocol
    code, _, err = cli("promote", "--run-id", b)
    assert code == 1 and err.count("\n") == 1
    assert f"measured under protocol {GRID_A[0]}" in err and "not comparable" in err
    assert "use --force" in err
    code, out, _ = cli("promote", "--run-id", b, "--force")
    assert code == 0, out
