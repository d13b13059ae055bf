"""The whole promotion flow against a real ``mlflow server`` on 127.0.0.1 (registry over REST).

One server per module: SQLite backend (copied from the migrated template), artifacts
served by the server (``--artifacts-destination``), started in its own process group
and stopped with the group, so no child outlives the tests.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest
import test_promote_helpers as helpers
from conftest import subprocess_env
from test_promote_helpers import (
    DATE,
    champion,
    check_parallel_promotions,
    diff,
    flat,
    make_candidate,
    snapshot,
)

from unisim.tracking import TrackingTarget, configure

template_db = helpers.template_db
START_TIMEOUT_S = 240


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes of a process group, from /proc."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # exited meanwhile
        state, pgrp = fields[0], int(fields[2])
        if pgrp == pgid and state != "Z":
            members.append(int(stat.parent.name))
    return members


@pytest.fixture(scope="module")
def server(tmp_path_factory, template_db):
    root = tmp_path_factory.mktemp("mlflow-server")
    db = root / "mlflow.db"
    shutil.copy(template_db, db)
    port = _free_port()
    cmd = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port)]
    cmd += ["--backend-store-uri", f"sqlite:///{db}", "--workers", "1"]
    cmd += ["--artifacts-destination", str(root / "artifacts")]
    log = open(root / "server.log", "w")  # noqa: SIM115  (closed at teardown)
    env = subprocess_env()
    env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"  # no GenAI job runners: 9 -> 2 processes
    proc = subprocess.Popen(
        cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT_S
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"mlflow server exited: {(root / 'server.log').read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"mlflow server not healthy after {START_TIMEOUT_S} s")
            time.sleep(0.5)  # polling a starting server
        yield url
    finally:
        pgid = proc.pid  # start_new_session: the server leads its own process group
        if _group_members(pgid):
            os.killpg(pgid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(pgid, signal.SIGKILL)
            proc.wait(timeout=30)
        log.close()
        end = time.monotonic() + 20
        while _group_members(pgid) and time.monotonic() < end:
            time.sleep(0.2)  # the uvicorn child exits after its parent
        orphans = _group_members(pgid)
        if orphans:
            os.killpg(pgid, signal.SIGKILL)
        assert not orphans, f"mlflow server left processes behind: {orphans}"


@pytest.fixture
def rest(server, monkeypatch):
    """(target, client) on the server; MLFLOW_TRACKING_URI points the CLI there."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", server)
    target = TrackingTarget(uri=server, source="env")
    return target, configure(target)


def test_whole_flow_over_rest(rest, cli, tmp_path):
    target, client = rest
    a = make_candidate(target, "srv-a", 0.2, model_name="srv-model")
    b = make_candidate(target, "srv-b", 0.1, model_name="srv-model")
    worse = make_candidate(target, "srv-w", 0.3, model_name="srv-model")

    code, out, err = cli("promote", f"experiments/{DATE}-srv-a", "--stage")
    assert code == 0, err
    assert f"{target.uri}/#/models/srv-model/versions/1" in flat(out)
    assert champion(client, "srv-model") == "1"

    before = snapshot(client, tmp_path)
    code, out, _ = cli("promote", "srv-b", "--dry-run")
    assert code == 0 and "nothing was written" in flat(out)
    code, _, err = cli("promote", "--run-id", worse)
    assert code == 1 and "better_than_champion" in flat(err)
    assert not diff(before, snapshot(client, tmp_path))
    Path(f"experiments/{DATE}-srv-b/metadata.json").mkdir()  # fails after registering
    before = snapshot(client, tmp_path)
    code, _, err = cli("promote", "srv-b", "--stage")
    assert code == 2 and "version 2 deleted" in flat(err)
    assert not diff(before, snapshot(client, tmp_path))
    Path(f"experiments/{DATE}-srv-b/metadata.json").rmdir()

    code, _, err = cli("promote", "srv-b", "--stage", "--update-leaderboard")
    assert code == 0, err
    model = client.get_registered_model("srv-model")
    new = str(max(int(v) for v in model.aliases.values()))  # version 2 was used, then deleted
    assert champion(client, "srv-model") == new
    assert champion(client, "srv-model", "previous-champion") == "1"
    assert client.get_model_version("srv-model", new).tags["unisim.run_id"] == b
    assert client.get_run(b).data.tags["unisim.status"] == "promoted"
    assert (
        json.loads(Path(f"experiments/{DATE}-srv-b/metadata.json").read_text())["promotion"][
            "model_version"
        ]
        == new
    )
    assert b in Path("configs/train_srv-b.yaml").read_text()

    board = pd.read_csv("reports/leaderboard.csv", dtype={"model_version": str})
    ours = board[board["experiment"].str.startswith(f"{DATE}-srv-")]
    assert list(ours["run_id"]) == [b, a, worse]
    assert list(ours["alias"].fillna("")) == ["champion", "previous-champion", ""]

    import mlflow.pytorch  # the champion's weights come back through the artifact proxy

    assert mlflow.pytorch.load_model("models:/srv-model@champion").weight.shape == (4, 4)

    code, out, _ = cli("registry", "show", "srv-model")
    assert code == 0 and f"1 -> {new}" in flat(out)
    assert cli("registry", "rollback", "srv-model")[0] == 0
    assert champion(client, "srv-model") == "1"
    stages = {
        str(v.version): v.current_stage for v in client.search_model_versions("name='srv-model'")
    }
    assert stages == {"1": "Production", new: "Archived"}


# ~40 s of CPU (eight interpreters importing MLflow): minutes on a busy 2-core machine.
@pytest.mark.slow
def test_eight_parallel_promotions_over_rest(rest, tmp_path):
    target, client = rest
    check_parallel_promotions(target, client, tmp_path)
