"""Archive and restore: dry-run, list-only, round trip, RUNNING left alone, SIGKILL then rerun."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import subprocess_env
from test_lifecycle_support import all_tags, make_folder, pipeline_run, running_run, tree

from unisim import tracking
from unisim.experiments.archive import FAULT_ENV, FAULT_POINTS

FAILED = "2026-01-02-diverged"
SUCCESS = "2026-01-03-good"
BUSY = "2026-01-04-busy"
FILES = {
    "checkpoints/last.pt": bytes(range(256)) * 64,  # binary
    "reports/report.json": b'{"gates_passed": false}\n',
    "metadata.json": b'{"promotion": null, "owner": "ana"}\n',
}


@pytest.fixture
def lab(tmp_path, store, client):
    """A failed, a successful and a running experiment, with runs as the pipeline makes them."""
    failed = make_folder(tmp_path, FAILED, FILES)
    pipeline_run(store, failed, gates=False, nrmse=0.3, children=2)
    good = make_folder(tmp_path, SUCCESS)
    pipeline_run(store, good, gates=True, nrmse=0.1)
    busy = make_folder(tmp_path, BUSY)
    pipeline_run(store, busy, gates=False, nrmse=0.5)
    running_run(store, busy)
    return tmp_path, client


def _leftovers(files: dict[str, str]) -> list[str]:
    """Staging, trash or journal files (the archive lock file may stay)."""
    return [p for p in files if "/." in p and p != "experiments-archive/.journal/lock"]


def _snapshot(root: Path, client) -> tuple:
    tags = {name: all_tags(client, name) for name in (FAILED, SUCCESS, BUSY)}
    files = {k: v for k, v in tree(root).items() if k != "experiments-archive/.journal/lock"}
    return files, tags


def test_dry_run_prints_every_action_and_writes_nothing(lab, cli):
    root, client = lab
    before = _snapshot(root, client)
    code, out, _ = cli("experiments", "archive", "--status", "all", "--dry-run")
    assert code == 0
    assert f"archive {FAILED}" in out and f"archive {SUCCESS}" in out
    for rel in ("checkpoints/last.pt", "reports/report.json", "config.yaml", "notes.md"):
        assert rel in out
    assert f"remove experiments/{FAILED}" in out and "unisim.status=archived" in out
    assert BUSY not in out  # active (RUNNING): not even considered for --status all
    assert _snapshot(root, client) == before
    assert not (root / "experiments-archive").exists()


def test_list_only_summarises_by_status(lab, cli):
    root, client = lab
    before = _snapshot(root, client)
    code, out, _ = cli("experiments", "archive", "--list-only")
    assert code == 0
    lines = [line.strip() for line in out.splitlines()]
    assert "failed: 1" in lines and "success: 1" in lines and "active: 1" in lines
    assert lines.index("failed") < lines.index(FAILED)  # names listed under their status
    assert _snapshot(root, client) == before


def test_archive_then_restore_round_trip(lab, cli):
    root, client = lab
    before_files = tree(root)
    exp_before, runs_before = all_tags(client, FAILED)
    code, out, err = cli("experiments", "archive", "--status", "failed")
    assert code == 0, err
    assert "archived 1" in out
    src, dst = root / "experiments" / FAILED, root / "experiments-archive" / FAILED
    assert not src.exists() and dst.is_dir()
    after = tree(root)
    for rel, digest in before_files.items():
        if rel.startswith(f"experiments/{FAILED}/") and not rel.endswith("metadata.json"):
            assert after[rel.replace("experiments/", "experiments-archive/", 1)] == digest
    assert not _leftovers(after)

    meta = json.loads((dst / "metadata.json").read_text())
    assert meta["owner"] == "ana"  # what promotion (or a person) wrote is kept
    record = meta["archive"]
    assert record["status"] == "failed" and set(record["run_ids"]) == set(runs_before)
    assert record["best"]["final_nrmse"] == pytest.approx(0.3)
    assert record["best"]["metrics"]["one_step_nrmse"] == pytest.approx(0.15)
    assert record["mlflow_experiment_id"] == client.get_experiment_by_name(FAILED).experiment_id
    assert record["archived_at"] and record["unisim_version"]

    exp_tags, runs = all_tags(client, FAILED)
    assert exp_tags[tracking.TAG_STATUS] == "archived"
    assert exp_tags[tracking.TAG_EXPERIMENT_DIR] == f"experiments-archive/{FAILED}"
    for run_id, tags in runs.items():
        assert tags[tracking.TAG_STATUS] == "archived"
        assert tags[tracking.TAG_FINAL_STATUS] == runs_before[run_id][tracking.TAG_STATUS]
    code, out, _ = cli("experiments", "list", "--status", "archived", "--json")
    assert [r["name"] for r in json.loads(out)] == [FAILED]

    code, out, err = cli("experiments", "restore", FAILED)
    assert code == 0, err
    after = tree(root)
    assert {k: after[k] for k in before_files} == before_files  # byte-identical, metadata too
    assert not _leftovers(after)
    assert all_tags(client, FAILED) == (exp_before, runs_before)


def test_running_experiment_is_never_touched(lab, cli):
    root, client = lab
    before = _snapshot(root, client)
    code, out, _ = cli("experiments", "archive", BUSY)
    assert code == 0 and "RUNNING" in out and "archived 0" in out
    assert _snapshot(root, client) == before


@pytest.mark.parametrize("name", ["../x", "/etc", "a/b", "bad\x1bname"])
def test_archive_and_restore_refuse_bad_names(lab, cli, name):
    for args in (("archive", name), ("restore", name)):
        code, _, err = cli("experiments", *args)
        assert code == 2 and err.startswith("error: ") and err.count("\n") == 1


def test_restore_refuses_to_overwrite(lab, cli):
    root, _ = lab
    assert cli("experiments", "archive", FAILED)[0] == 0
    make_folder(root, FAILED)
    code, _, err = cli("experiments", "restore", FAILED)
    assert code == 2 and "already exists" in err


# ---------------------------------------------------------------- crash, then rerun


def _killed(root: Path, fault: str, *args: str) -> None:
    env = {**subprocess_env(), FAULT_ENV: fault}
    done = subprocess.run(
        [sys.executable, "-m", "unisim", "experiments", *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]


def _check_archived_once(root: Path, before: dict[str, str], runs_before, client) -> None:
    after = tree(root)
    names = {p.split("/", 1)[1] for p in after}
    for rel, digest in before.items():
        if not rel.startswith(f"experiments/{FAILED}/"):
            assert after[rel] == digest  # the other experiments are untouched
            continue
        moved = rel.replace("experiments/", "experiments-archive/", 1)
        assert rel not in after and moved in after  # exactly once: only in the archive
        if not rel.endswith("metadata.json"):
            assert after[moved] == digest
    assert len(names) == len(after)  # no file in two places
    assert not _leftovers(after)
    exp_tags, runs = all_tags(client, FAILED)
    assert exp_tags[tracking.TAG_STATUS] == "archived"
    for run_id, tags in runs.items():
        assert (tags[tracking.TAG_STATUS], tags[tracking.TAG_FINAL_STATUS]) == (
            "archived",
            runs_before[run_id][tracking.TAG_STATUS],
        )


FAST_POINTS = ("after-copy", "mid-tags", "after-trash")


@pytest.mark.parametrize(
    "point",
    [p if p in FAST_POINTS else pytest.param(p, marks=pytest.mark.slow) for p in FAULT_POINTS],
)
def test_archive_killed_then_rerun_completes_exactly_once(lab, cli, point):
    root, client = lab
    before = tree(root)
    _, runs_before = all_tags(client, FAILED)
    _killed(root, f"archive:{point}", "archive", "--status", "failed")
    code, out, err = cli("experiments", "archive", "--status", "failed")
    assert code == 0, err
    committed = FAULT_POINTS.index(point) >= FAULT_POINTS.index("after-rename")
    verb = "finish" if committed else "roll back"
    assert f"{verb} the interrupted archive of {FAILED}" in out
    _check_archived_once(root, before, runs_before, client)


@pytest.mark.parametrize(
    "point", ["mid-tags", pytest.param("after-copy", marks=pytest.mark.slow), "after-trash"]
)
def test_restore_killed_then_rerun_round_trips(lab, cli, point):
    root, client = lab
    before = tree(root)
    tags_before = all_tags(client, FAILED)
    assert cli("experiments", "archive", FAILED)[0] == 0
    _killed(root, f"restore:{point}", "restore", FAILED)
    code, _, err = cli("experiments", "restore", FAILED)
    assert code == 0, err
    after = tree(root)
    assert not _leftovers(after)
    assert {k: v for k, v in after.items() if k in before} == before and len(after) <= len(
        before
    ) + 1
    assert all_tags(client, FAILED) == tags_before


def test_store_error_while_tagging_is_one_line_and_a_rerun_finishes(lab, cli, monkeypatch):
    from unisim.experiments import transfer as archive_module

    root, client = lab
    before = tree(root)
    _, runs_before = all_tags(client, FAILED)
    real = archive_module._apply_tags

    def down(ctx, journal):
        raise ConnectionError("tracking server unreachable")

    monkeypatch.setattr(archive_module, "_apply_tags", down)
    code, _, err = cli("experiments", "archive", FAILED)
    assert code == 2 and "run the command again" in err and err.count("\n") == 1
    assert (root / "experiments" / FAILED).is_dir()  # nothing deleted before the tags
    assert (root / "experiments-archive" / ".journal" / f"{FAILED}.json").is_file()
    monkeypatch.setattr(archive_module, "_apply_tags", real)
    code, out, err = cli("experiments", "archive", FAILED)
    assert code == 0 and f"finish the interrupted archive of {FAILED}" in out, err
    _check_archived_once(root, before, runs_before, client)
