"""The leaderboard from MLflow: which runs, their order and columns, CSV/HTML/JSON exports."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import test_promote_helpers as helpers
from test_promote_helpers import make_candidate

from unisim.reports.leaderboard import COLUMNS, build_leaderboard, write_leaderboard
from unisim.tracking import connect

template_db, pstore, pclient = helpers.template_db, helpers.pstore, helpers.pclient


def test_leaderboard_ranks_gates_passed_finished_pipeline_runs(pstore, pclient, cli, tmp_path):
    mid = make_candidate(pstore, "exp-a", 0.2, latent_dim=8)
    best = make_candidate(pstore, "exp-b", 0.05, latent_dim=32, cost_usd=None)
    worst = make_candidate(pstore, "exp-a", 0.3)
    make_candidate(pstore, "exp-c", 0.01, gates=False)  # gates failed: not listed
    make_candidate(pstore, "exp-c", 0.02, fail=True)  # FAILED run: not listed
    make_candidate(pstore, "exp-d", 0.03, kind="train", model=False)  # not a pipeline run
    assert cli("promote", "--run-id", mid)[0] == 0

    df = build_leaderboard(connect(pstore))
    assert list(df.columns) == COLUMNS
    assert list(df["run_id"]) == [best, mid, worst]
    assert list(df["rank"]) == [1, 2, 3]
    rows = {r["run_id"]: r for r in df.to_dict("records")}
    b, m = rows[best], rows[mid]
    assert b["experiment"] == f"{helpers.DATE}-exp-b"
    assert b["final_nrmse"] == 0.05 and b["one_step_nrmse"] == 0.005
    assert b["latent_dim"] == 32 and b["latent_tokens"] == 8 and m["latent_dim"] == 8
    assert b["n_params"] == 20 and b["train_time_s"] == 3.5 and b["wall_clock_s"] == 9
    assert pd.isna(b["cost_usd"]) and m["cost_usd"] == 0.25
    assert b["gates"] == "passed" and b["arch"] == "latent"
    assert pd.isna(b["model_version"]) and pd.isna(b["alias"])
    assert m["model"] == "burgers-surrogate" and m["model_version"] == "1"
    assert m["alias"] == "champion"
    assert list(build_leaderboard(connect(pstore), top=2)["run_id"]) == [best, mid]

    # exports: rewritten whole from MLflow, no temp files left behind
    csv, html = Path("reports/leaderboard.csv"), Path("reports/leaderboard.html")
    assert write_leaderboard(pstore) == [csv, html]
    assert list(pd.read_csv(csv)["run_id"]) == [best, mid, worst]
    csv.write_text(csv.read_text().splitlines()[0] + "\n")  # a row lost by hand...
    code, out, _ = cli("leaderboard", "--csv", csv, "--html", html, "--top", "2")
    assert code == 0 and "wrote reports/leaderboard.csv" in out
    assert list(pd.read_csv(csv)["run_id"]) == [best, mid]  # ...comes back from MLflow
    assert best in html.read_text() and "<table" in html.read_text()
    assert sorted(p.name for p in Path("reports").iterdir()) == [csv.name, html.name]

    code, out, _ = cli("leaderboard", "--json")
    assert code == 0
    data = json.loads(out)
    assert [r["run_id"] for r in data] == [best, mid, worst]
    assert data[0]["cost_usd"] is None and data[1]["alias"] == "champion"

    code, out, _ = cli("leaderboard")
    assert code == 0 and "leaderboard (3 runs)" in out and best[:8] in out


def test_empty_leaderboard_writes_a_header(pstore, pclient, cli):
    code, out, _ = cli("leaderboard", "--csv", "lb.csv")
    assert code == 0
    assert Path("lb.csv").read_text().strip() == ",".join(COLUMNS)
