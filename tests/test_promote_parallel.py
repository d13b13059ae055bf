"""Eight ``unisim promote`` processes at once: one consistent champion, nothing lost or doubled."""

from __future__ import annotations

import pytest
import test_promote_helpers as helpers
from test_promote_helpers import check_parallel_promotions, diff, flat, make_candidate, snapshot

from unisim.registry.lock import registry_lock

template_db, pstore, pclient = helpers.template_db, helpers.pstore, helpers.pclient


def test_a_held_lock_blocks_promotion_and_changes_nothing(
    pstore, pclient, cli, monkeypatch, tmp_path
):
    run = make_candidate(pstore, "exp-a", 0.1)
    monkeypatch.setenv("UNISIM_LOCK_TIMEOUT_S", "0.2")
    before = snapshot(pclient, tmp_path)
    with registry_lock(pstore):  # another promotion (or rollback) in progress
        code, _, err = cli("promote", "--run-id", run)
        assert code == 2 and "held the registry lock" in flat(err)
        assert cli("registry", "rollback")[0] == 2
        code, out, _ = cli("promote", "--run-id", run, "--dry-run")  # reads only: no lock
        assert code == 0
    assert not diff(before, snapshot(pclient, tmp_path))
    assert cli("promote", "--run-id", run)[0] == 0


# ~40 s of CPU (eight interpreters importing MLflow): minutes on a busy 2-core machine.
@pytest.mark.slow
def test_eight_parallel_promotions_leave_one_consistent_champion(pstore, pclient, tmp_path):
    check_parallel_promotions(pstore, pclient, tmp_path)
