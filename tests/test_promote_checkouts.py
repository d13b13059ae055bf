"""Promotions from eight separate checkouts (copies of the experiments tree, as on eight
machines) into one ``mlflow server`` on PostgreSQL: the promotion lease in the registry
makes them take turns, so champion, previous-champion and the champion history agree.

PostgreSQL down: skip, or fail under CI=true. Slow: the server start and eight
interpreters importing MLflow (minutes on a busy 2-core machine).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import subprocess_env
from test_promote_helpers import SCORES, make_candidate

from unisim.tracking import configure

pytest_plugins = ["server_fixtures"]  # pg_database, pg_server, server_tracking
pytestmark = [pytest.mark.slow, pytest.mark.postgres]

NAME = "checkouts-surrogate"  # the session's server is shared: a model of our own
# Each process imports unisim and MLflow first, says it is ready, and waits for the start
# signal, so the eight promotions really overlap (imports take seconds, a promotion less).
AT_THE_LINE = """
import pathlib, sys, time
import mlflow.tracking, unisim.registry.promote
from unisim.cli import main
pathlib.Path(sys.argv[1]).touch()
while not pathlib.Path(sys.argv[2]).exists():
    time.sleep(0.01)
sys.exit(main(sys.argv[3:]))
"""


def test_eight_checkouts_promote_into_one_server(server_tracking, tmp_path):
    target = server_tracking
    client = configure(target)
    runs = [make_candidate(target, f"co-{i}", s, model_name=NAME) for i, s in enumerate(SCORES)]
    checkouts = []
    for i in range(8):
        checkout = tmp_path / f"checkout-{i}"
        shutil.copytree(Path("experiments"), checkout / "experiments")
        checkouts.append(checkout)
    env = {**subprocess_env(), "MLFLOW_TRACKING_URI": target.uri}
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", AT_THE_LINE, "ready", go, "promote", "--run-id", run],
            cwd=checkout,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for run, checkout in zip(runs, checkouts, strict=True)
    ]
    deadline = time.monotonic() + 300
    while not all((c / "ready").exists() for c in checkouts):
        assert time.monotonic() < deadline and all(p.poll() is None for p in procs)
        time.sleep(0.1)
    go.touch()
    codes = {}
    for run, proc in zip(runs, procs, strict=True):
        _, err = proc.communicate(timeout=600)
        codes[run] = proc.returncode
        assert proc.returncode in (0, 1) and "Traceback" not in err, err[-3000:]
        if proc.returncode == 1:  # refused only because a better champion was in place
            assert "better_than_champion" in err, err

    versions = sorted(
        client.search_model_versions(f"name = '{NAME}'"), key=lambda v: int(v.version)
    )
    winners = [run for run, code in codes.items() if code == 0]
    assert sorted(v.tags["unisim.run_id"] for v in versions) == sorted(winners)
    model = client.get_registered_model(NAME)
    history = model.tags["unisim.champion_history"].split(",")
    assert history == [str(v.version) for v in versions]  # each became champion, in turn
    scores = [float(client.get_model_version(NAME, v).tags["unisim.final_nrmse"]) for v in history]
    assert scores == sorted(scores, reverse=True) and len(set(scores)) == len(scores)
    assert str(model.aliases["champion"]) == history[-1]
    previous = model.aliases.get("previous-champion")
    assert (str(previous) if previous else None) == (history[-2] if len(history) > 1 else None)
    best = runs[SCORES.index(min(SCORES))]
    assert client.get_model_version(NAME, history[-1]).tags["unisim.run_id"] == best
    leases = client.search_registered_models(f"name = '{NAME}.promotion-lease'")
    assert leases == []  # every promoter let go of the lease
