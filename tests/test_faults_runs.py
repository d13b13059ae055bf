"""How runs end when things go wrong: a diverged stage, kill -9, SIGTERM, a kill while
the model is being logged. Real ``unisim`` processes on a tmp SQLite store.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import subprocess_env
from test_pipeline import runs_of, write_config


def start(args: list[str], log: Path, env: dict | None = None) -> subprocess.Popen:
    """``python -m unisim ARGS`` in the background, output to ``log`` (a full pipe blocks).

    A CI launcher that backgrounds the suite leaves SIGINT (and maybe SIGTERM) ignored,
    and children inherit that: give the process the defaults a terminal would.
    """

    def defaults() -> None:
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)

    with log.open("w") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "unisim", *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**subprocess_env(), "PYTHONUNBUFFERED": "1", **(env or {})},
            preexec_fn=defaults,
        )


def wait_for_epochs(client, proc: subprocess.Popen, epochs: int, log: Path) -> str:
    """Block until the train run has logged ``epochs`` epochs; its run id."""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()[-3000:]
        exp = client.get_experiment_by_name("tiny")
        train = runs_of(client, "train") if exp is not None else []
        if train and len(client.get_metric_history(train[0].info.run_id, "train/loss")) >= epochs:
            return train[0].info.run_id
        time.sleep(0.2)
    raise AssertionError(f"no {epochs} epochs within 300 s: {log.read_text()[-2000:]}")


def long_config(tmp_path: Path, epochs: int) -> Path:
    path = write_config(tmp_path)
    path.write_text(path.read_text().replace("epochs: 2", f"epochs: {epochs}"))
    return path


def sigterm_mid_training(
    tmp_path: Path, client, command: list[str], env: dict | None = None
) -> tuple[subprocess.Popen, Path, str]:
    """``unisim COMMAND[0] CONFIG COMMAND[1:]`` on a 100000-epoch config, SIGTERM to it alone
    (as `kill PID` does) 2 s after the first epoch; the ended process, its log, the train
    run id. The process is never left running."""
    path = long_config(tmp_path, epochs=100000)  # the signal always lands mid-training
    log = tmp_path / "run.log"
    proc = start([command[0], str(path), *command[1:]], log, env)
    try:
        train_id = wait_for_epochs(client, proc, 1, log)
        time.sleep(2)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc, log, train_id


def running(client) -> list[str]:
    exp = client.get_experiment_by_name("tiny")
    runs = client.search_runs([exp.experiment_id], "attributes.status = 'RUNNING'")
    return [r.info.run_id for r in runs]


# ---------------------------------------------------------------- 5. stage failures


def test_a_diverged_training_in_the_pipeline_is_a_stage_failure(tmp_path, store, client, cli):
    path = write_config(tmp_path)
    code, out, err = cli(
        "run", path, "--set", "training.lr=1e12", "--set", "training.grad_clip=null"
    )
    assert code == 3, out + err  # a stage crashed, not "a gate said no" (1)
    assert "stage train failed: NonFiniteLoss" in err
    (parent,) = runs_of(client, "pipeline")
    assert parent.data.tags["unisim.failure_reason"].startswith("stage train: NonFiniteLoss:")
    (train,) = runs_of(client, "train")
    assert train.info.status == "FAILED" and parent.info.status == "FINISHED"


# ---------------------------------------------------------------- 6. dead runs


def test_kill_9_leaves_nothing_running_and_the_next_run_resumes(tmp_path, store, client, cli):
    path = long_config(tmp_path, epochs=30)
    log = tmp_path / "run.log"
    proc = start(["run", str(path)], log)
    try:
        train_id = wait_for_epochs(client, proc, 2, log)
    finally:
        proc.kill()  # SIGKILL: no handler runs, nothing is ended
        proc.wait()
    (killed,) = runs_of(client, "pipeline")
    assert sorted(running(client)) == sorted([killed.info.run_id, train_id])
    before = {m.step for m in client.get_metric_history(train_id, "train/loss")}

    code, out, _ = cli("runs", "end", "--stale", "--dry-run")
    assert code == 0 and out.count("would end") == 2 and len(running(client)) == 2

    code, out, err = cli("run", path)  # ends the dead runs, resumes the training
    assert code == 0, out + err
    assert f"resumed run {train_id}" in " ".join(out.split())
    assert running(client) == []
    (train,) = runs_of(client, "train")  # the same run, trained to the end
    assert train.info.run_id == train_id and train.info.status == "FINISHED"
    steps = [m.step for m in client.get_metric_history(train_id, "train/loss")]
    assert sorted(steps) == sorted(set(steps)) and len(steps) == 30  # continued, no repeats
    assert before < set(steps)
    killed = client.get_run(killed.info.run_id)
    assert killed.info.status == "KILLED"
    assert "is gone" in killed.data.tags["unisim.failure_reason"]
    newest = [r for r in runs_of(client, "pipeline") if r.info.run_id != killed.info.run_id]
    assert newest[0].data.tags["unisim.train_run"] == train_id
    assert newest[0].info.status == "FINISHED"


def test_a_kill_while_logging_the_model_leaves_no_pending_model(tmp_path, store, client, cli):
    from mlflow.entities import LoggedModelStatus

    path = write_config(tmp_path)
    log = tmp_path / "train.log"
    proc = start(["train", str(path), "--no-progress"], log, {"UNISIM_FAULT": "log-model:pending"})
    assert proc.wait(timeout=300) == -signal.SIGKILL, log.read_text()[-2000:]
    (train,) = runs_of(client, "train")
    exp = train.info.experiment_id
    (model,) = client.search_logged_models(experiment_ids=[exp])
    assert train.info.status == "RUNNING" and model.status == LoggedModelStatus.PENDING

    code, out, err = cli("runs", "end", "--stale")
    assert code == 0 and f"ended KILLED {train.info.run_id} train" in " ".join(out.split()), err
    assert client.get_run(train.info.run_id).info.status == "KILLED"
    (model,) = client.search_logged_models(experiment_ids=[exp])
    assert model.status == LoggedModelStatus.FAILED


# ---------------------------------------------------------------- 7. SIGTERM


@pytest.mark.parametrize("isolate", [[], ["--isolate"]], ids=["in-process", "isolated"])
def test_sigterm_ends_every_open_run_killed_with_exit_143(tmp_path, store, client, isolate):
    """SIGTERM to `unisim run` alone (as `kill PID` does); with --isolate it reaches the
    stage's subprocess through the pipeline, which waits for it to end its own run."""
    proc, log, train_id = sigterm_mid_training(tmp_path, client, ["run", *isolate])
    assert proc.returncode == 143, log.read_text()[-2000:]
    assert "terminated (SIGTERM)" in log.read_text() and "Traceback" not in log.read_text()
    for kind in ("pipeline", "train"):
        (run,) = runs_of(client, kind)
        assert run.info.status == "KILLED", kind
        assert run.data.tags["unisim.failure_reason"] == "terminated (SIGTERM)"
    journal = tmp_path / "mlruns" / "journal"
    assert not list(journal.glob("*.jsonl")) if journal.exists() else True  # all points sent
    assert client.get_metric_history(train_id, "train/loss")


def test_a_stage_that_dies_while_stopping_has_its_run_ended_killed_by_the_pipeline(
    tmp_path, store, client
):
    """SIGTERM reaches an isolated stage, which dies before it can end its own run (the
    fault SIGKILLs it there): the pipeline ends that run KILLED and passes on what it said."""
    fault = {"UNISIM_FAULT": "train-end:interrupted"}
    proc, log, _ = sigterm_mid_training(tmp_path, client, ["run", "--isolate"], fault)
    text = log.read_text()
    assert proc.returncode == 143, text[-2000:]
    assert "killing the process at train-end:interrupted" in text  # the stage's last words
    assert running(client) == []
    for kind in ("pipeline", "train"):
        (run,) = runs_of(client, kind)
        assert run.info.status == "KILLED", kind
        assert run.data.tags["unisim.failure_reason"] == "terminated (SIGTERM)"
