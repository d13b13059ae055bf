"""What a new user met in a day of use: identities, the UI, reads, promotion, exports,
listing, benchmarks' leftovers, help text, messages and provenance (one test per item;
the pipeline-level ones are in test_ux_pipeline.py)."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import test_promote_helpers as helpers
from test_promote_helpers import DATE, make_candidate

REPO = Path(__file__).resolve().parents[1]
pstore, pclient, template_db = helpers.pstore, helpers.pclient, helpers.template_db


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _port_in_use(port: int) -> bool:
    from unisim.tracking.uiserver import port_in_use

    return port_in_use(port)


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 240) -> None:
    from unisim.server.process import check_health

    deadline = time.monotonic() + timeout
    while not check_health(url):
        assert proc.poll() is None, f"server exited with {proc.returncode}"
        assert time.monotonic() < deadline, f"{url} not healthy after {timeout} s"
        time.sleep(0.5)


def env_without_tracking(**extra: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "UNISIM_PROFILE")
    }
    env.update(PYTHONPATH=str(REPO), **extra)
    return env


# ---------------------------------------------------------------- item 1: identities


def test_experiments_new_rewrites_the_copied_identity(store, cli):
    from unisim.config import load_config
    from unisim.naming import evaluate_run_name, train_run_name

    golden = REPO / "configs" / "train_burgers_golden.yaml"
    code, out, err = cli("experiments", "new", "wide", "--from", golden)
    assert code == 0, err
    (folder,) = Path("experiments").iterdir()
    text = (folder / "config.yaml").read_text()
    cfg = load_config(folder / "config.yaml")
    assert cfg.name == "wide" and cfg.tracking.experiment == folder.name
    assert cfg.description.startswith(f"{folder.name}: based on {golden}")
    assert "# Golden config" in text  # the source's comments stay
    assert json.loads((folder / "metadata.json").read_text())["base_config"] == str(golden)
    assert [train_run_name(0, 1), train_run_name(2, 3)] == ["train", "train-seed-2"]
    assert [evaluate_run_name(s) for s in ("val", "test")] == ["evaluate-val", "evaluate-test"]


# ---------------------------------------------------------------- item 3: the UI


def test_ui_refuses_a_busy_port_with_one_line(store, cli):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, out, err = cli("ui", "--port", port)
    assert code == 1 and "http" not in out
    assert len(err.strip().splitlines()) == 1 and f"port {port}" in err


def test_ui_print_env_names_the_store_for_plain_mlflow(store, cli):
    code, out, _ = cli("ui", "--print-env")
    assert code == 0 and out.strip() == f"export MLFLOW_TRACKING_URI={store.uri}"


def test_mlflow_ui_chooses_its_view_from_workflow_type():
    """The contract links.py relies on: MLflow's bundled UI reads ``workflowType`` from the
    URL and knows ``machine_learning`` (a new MLflow that drops it fails here)."""
    import mlflow

    js = Path(mlflow.__file__).parent / "server" / "js" / "build" / "static" / "js"
    main_js = next(js.glob("main.*.js")).read_text(encoding="utf-8", errors="replace")
    assert 'get("workflowType")' in main_js and 'MACHINE_LEARNING="machine_learning"' in main_js


def test_ui_serves_the_runs_table_and_every_link_follows_its_port(store, cli):
    import psutil

    from unisim.tracking import Kind, start_run

    with start_run(kind=Kind.PIPELINE, experiment="ui-exp", target=store) as run:
        pass
    port = free_port()
    log = Path("ui.out")
    cmd = [sys.executable, "-m", "unisim", "ui", "--port", str(port), "--tracking-uri", store.uri]
    with log.open("w") as out:
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, env=env_without_tracking(),
            start_new_session=True,
        )  # fmt: skip
    server = []
    try:
        deadline = time.monotonic() + 240
        while "MLflow UI on" not in log.read_text() and time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()
            time.sleep(0.5)
        text = log.read_text()
        exp_id = run.experiment_id
        assert (
            f"http://127.0.0.1:{port}/#/experiments/{exp_id}/runs?workflowType=machine_learning"
            in text
        )
        # MLflow's GenAI job runner (huey consumers) is not started
        server = psutil.Process(proc.pid).children(recursive=True)
        names = " ".join(" ".join(p.cmdline()) for p in server)
        assert "huey" not in names and "mlflow" in names
        code, out, _ = cli("runs", "open", run.run_id)
        assert out.strip().startswith(f"http://127.0.0.1:{port}/#/experiments/{exp_id}/runs/")
        assert json.loads((Path(store.sqlite_path).parent / "ui.json").read_text())["port"] == port
    finally:
        proc.send_signal(signal.SIGTERM)  # a closed terminal: the server must go too
        assert proc.wait(timeout=90) == 0
    _, alive = psutil.wait_procs(server, timeout=30)
    assert not alive and not _port_in_use(port)


# ---------------------------------------------------------------- item 4: light reads


def test_read_commands_answer_without_importing_mlflow(pstore, cli):
    best = make_candidate(pstore, "exp-a", 0.1)
    other = make_candidate(pstore, "exp-b", 0.2)
    assert cli("promote", "--run-id", best)[0] == 0
    commands = [
        ["runs", "list"], ["runs", "list", f"{DATE}-exp-a", "--kind", "pipeline"],
        ["runs", "show", best], ["runs", "compare", best, other], ["runs", "open", best],
        ["registry", "list"], ["registry", "show", "burgers-surrogate"], ["leaderboard"],
    ]  # fmt: skip
    code = (
        "import sys, io, contextlib\nfrom unisim.cli import main\n"
        f"for argv in {commands!r}:\n"
        "    with contextlib.redirect_stdout(io.StringIO()):\n"
        "        assert main(argv) == 0, argv\n"
        "print('HEAVY', [m for m in ('mlflow', 'pandas', 'torch') if m in sys.modules])\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
        env=env_without_tracking(MLFLOW_TRACKING_URI=pstore.uri),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "HEAVY []" in proc.stdout


@pytest.mark.slow
def test_read_commands_benchmark_runs_quick(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "read_commands.py"), "--quick"],
        capture_output=True, text=True, timeout=900, env=env_without_tracking(TMPDIR=str(tmp_path)),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "every read command <= 1 s on 40 runs" in proc.stdout
    assert not list(tmp_path.iterdir())  # its store is removed


# ---------------------------------------------------------------- item 6: a better run exists


def test_promote_warns_about_a_better_run_of_the_protocol_and_best_promotes_it(
    pstore, pclient, cli
):
    worse = make_candidate(pstore, "exp-a", 0.3)
    better = make_candidate(pstore, "exp-b", 0.1)  # the same config: the same protocol
    protocol = pclient.get_run(worse).data.tags["unisim.protocol"]
    assert pclient.get_run(better).data.tags["unisim.protocol"] == protocol
    code, out, err = cli("promote", "--run-id", worse, "--dry-run")
    assert code == 0 and "warning:" in err and better in err and f"({protocol})" in err
    code, out, err = cli("promote", "--run-id", worse, "--strict")
    assert code == 1 and "best_of_protocol" in out and pclient.search_registered_models() == []
    code, out, err = cli("promote", "--best", "exp-b")
    assert code == 0, err
    version = pclient.get_model_version_by_alias("burgers-surrogate", "champion")
    assert version.tags["unisim.run_id"] == better and "warning" not in err
    # a better run under another protocol is not a rival
    pclient.set_tag(worse, "unisim.protocol", "p-other")
    code, out, err = cli("promote", "--run-id", worse, "--dry-run", "--force")
    assert "warning" not in err


# ---------------------------------------------------------------- item 7: leaderboard exports


def test_leaderboard_exports_are_per_store_and_link_every_run(pstore, pclient, cli, monkeypatch):
    from unisim.reports.leaderboard import default_exports, write_leaderboard
    from unisim.tracking import TrackingTarget

    champ = make_candidate(pstore, "exp-a", 0.1, cost_usd=None)
    other = make_candidate(pstore, "exp-b", 0.2)
    assert cli("promote", "--run-id", champ)[0] == 0
    # the store unisim resolves to here writes reports/leaderboard.*; any other is named
    assert write_leaderboard(pstore)[0] == Path("reports/leaderboard.csv")
    local = Path("reports/leaderboard.csv").read_text()
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    csv, html = write_leaderboard(pstore)
    assert csv.name.startswith("leaderboard-store-") and html.suffix == ".html"
    assert Path("reports/leaderboard.csv").read_text() == local  # not overwritten
    team = TrackingTarget("http://mlflow.internal:5000", source="profile:team")
    assert default_exports(team) == (
        Path("reports/leaderboard-team.csv"),
        Path("reports/leaderboard-team.html"),
    )
    page = html.read_text()
    exp_id = pclient.get_run(champ).info.experiment_id
    assert f"#/experiments/{exp_id}/runs/{champ}?workflowType=machine_learning'>" in page
    assert other[:8] in page and "None" not in page and "nan" not in page
    assert "<tr class='champion'>" in page and "★ champion" in page
    code, out, _ = cli("leaderboard", "--tracking-uri", pstore.uri)
    assert "leaderboard (2 runs)" in out and "★" in out


# ---------------------------------------------------------------- item 8: experiments list


def test_experiments_list_shows_experiments_without_a_folder(store, cli):
    from unisim.tracking import Kind, start_run

    with start_run(kind=Kind.PIPELINE, experiment="burgers-golden", target=store):
        pass  # what `make run` leaves: a config from configs/, no experiment folder
    code, out, _ = cli("experiments", "list", "--json")
    assert code == 0
    assert [r["name"] for r in json.loads(out)] == ["burgers-golden"]  # and no "Default"


def test_experiments_list_on_a_server_lists_the_servers_experiments(tmp_path, cli):
    from mlflow import MlflowClient

    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    db, art = tmp_path / "srv" / "mlflow.db", (tmp_path / "srv" / "art").as_uri()
    cmd = [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
           "--backend-store-uri", f"sqlite:///{db}", "--default-artifact-root", art,
           "--workers", "1"]  # fmt: skip
    (tmp_path / "srv").mkdir()
    env = env_without_tracking(MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false")
    with (tmp_path / "srv.log").open("w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=log, env=env, start_new_session=True)
    try:
        wait_healthy(uri, proc)
        MlflowClient(uri).create_experiment("team-exp")
        Path("experiments/2026-01-01-local-only").mkdir(parents=True)
        Path("experiments/2026-01-01-local-only/notes.md").write_text("# local\n")
        code, out, err = cli("experiments", "list", "--tracking-uri", uri, "--json")
        assert code == 0, err
        assert [r["name"] for r in json.loads(out)] == ["team-exp"]
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=60)


# ---------------------------------------------------------------- item 10: benchmark leftovers


def test_benchmarks_remove_their_temp_folders(tmp_path, monkeypatch):
    import tempfile

    sys.path.insert(0, str(REPO / "benchmarks"))
    try:
        import tracking_overhead
        import train_throughput
    finally:
        sys.path.remove(str(REPO / "benchmarks"))
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    seen = []

    def fake(args, folder=None):  # writes what the real measurement writes: a store
        folder = Path(folder if folder is not None else args.tmp)
        (folder / "mlflow.db").write_text("x")
        seen.append(folder)

    monkeypatch.setattr(tracking_overhead, "measure", fake)
    monkeypatch.setattr(train_throughput, "run", fake)
    for module in (tracking_overhead, train_throughput):
        monkeypatch.setattr(sys, "argv", [module.__file__])
        module.main()
    assert len(seen) == 2 and all(str(f).startswith(str(temp)) for f in seen)
    assert list(temp.iterdir()) == []


# ---------------------------------------------------------------- item 11: help, messages, git


def _commands(group=None, prefix=()):
    import typer

    from unisim.cli import app

    command = group or typer.main.get_command(app)
    for name, sub in getattr(command, "commands", {}).items():
        yield (*prefix, name)
        yield from _commands(sub, (*prefix, name))


def test_help_shows_one_upper_case_metavar_style(cli):
    for argv in [(), *_commands()]:
        code, out, _ = cli(*argv, "--help")
        assert code == 0, argv
        tags = re.findall(r"<(?:str|bool|int|float|path|list\[[a-z]+\])>", out)
        assert not tags, (argv, tags)
        panel = out.split("─ Arguments ─", 1)[1].split("╰", 1)[0] if "─ Arguments ─" in out else ""
        for name in re.findall(r"^│(?:\s\*)?\s{1,6}([A-Za-z_][\w.]*)\s{2,}", panel, re.M):
            assert name.isupper(), (argv, name)


def test_gate_table_keeps_every_column_at_80_columns(monkeypatch):
    from rich.console import Console

    from unisim.commands import run as run_cmd

    buf = io.StringIO()
    monkeypatch.setattr(run_cmd, "console", Console(file=buf, width=80, highlight=False))
    rows = [
        dict(stage="full", seed=1, metric="ratio_to_persistence", check="min_relative_change",
             value=0.0299483713, limit=0.5, baseline=0.031, passed=False, reason="worse"),
        dict(stage="fast", seed=0, metric="final_nrmse", check="threshold", value=0.02,
             limit=0.25, baseline=None, passed=True, reason=None),
    ]  # fmt: skip
    run_cmd.print_gate_table(rows)
    text = buf.getvalue()
    assert all(len(line) <= 80 for line in text.splitlines())
    for word in ("check", "min_relative_change", "ratio_to_persistence", "0.02995", "worse"):
        assert word in text, word


def test_counts_are_pluralised(tmp_path, pstore, cli):
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text("seed: 1\n")
    b.write_text("seed: 2\n")
    code, out, _ = cli("configs", "diff", a, b)
    assert "1 key differs" in out and "1 keys" not in out
    make_candidate(pstore, "exp-a", 0.1)
    code, out, _ = cli("leaderboard")
    assert "leaderboard (1 run)" in out


def test_git_dirty_counts_untracked_files_git_does_not_ignore(tmp_path):
    from unisim.tracking import git_info

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    git("config", "user.email", "t@example.com")
    git("config", "user.name", "t")
    (tmp_path / ".gitignore").write_text("mlruns/\n")
    git("add", ".gitignore")
    git("commit", "-qm", "init")
    (tmp_path / "mlruns").mkdir()
    (tmp_path / "mlruns" / "mlflow.db").write_text("x")  # ignored: clean
    assert git_info(tmp_path)["unisim.git_dirty"] == "false"
    folder = tmp_path / "experiments" / "2026-01-01-x"
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text("seed: 3\n")  # untracked, edited, never committed
    assert git_info(folder)["unisim.git_dirty"] == "true"
