"""`unisim vast launch` (and the whole flow) against the fake backend, in a real git repo.

The repo has a bare "remote"; the CLI runs in process with `open_backend` swapped
for a FakeBackend. Fake secrets are set in the environment and every output is
searched for them.
"""

from __future__ import annotations

import logging
import subprocess
import threading
import time

import pytest
from test_vast_helpers import (
    OFFERS,
    SECRETS,
    VastAPIStandIn,
    assert_no_secret,
    git,
    make_repo,
    script_env,
    set_secrets,
)

from unisim.errors import UnisimError
from unisim.vast.backend import FakeBackend, OfferUnavailable, VastError
from unisim.vast.launch import launch_config, public_repo_url
from unisim.vast.onstart import decode_onstart_command

CONFIG = "configs/train_tiny.yaml"


@pytest.fixture
def repo(tmp_path, monkeypatch):
    r = make_repo(tmp_path)
    monkeypatch.chdir(r.root)
    return r


@pytest.fixture
def fake(monkeypatch):
    backend = FakeBackend(offers=[dict(o) for o in OFFERS])
    monkeypatch.setattr("unisim.vast.backend.open_backend", lambda: backend)
    return backend


@pytest.fixture(autouse=True)
def _secrets(monkeypatch, caplog):
    set_secrets(monkeypatch)
    caplog.set_level(logging.DEBUG)


def created(fake: FakeBackend) -> list:
    return [c for c in fake.calls if c[0] == "create_instance"]


# ---------------------------------------------------------------- git checks


def test_refuses_a_config_that_is_not_committed(repo, fake, cli):
    (repo.root / "configs" / "new.yaml").write_text("name: new\n")
    code, out, err = cli("vast", "launch", "configs/new.yaml", "--dry-run")
    assert code == 2 and "not committed" in err and err.count("\n") == 1
    assert fake.calls == []


@pytest.mark.parametrize("stage", [False, True])
def test_refuses_uncommitted_changes(repo, fake, cli, stage):
    repo.config.write_text(repo.config.read_text() + "seed: 3\n")
    if stage:
        git(repo.root, "add", CONFIG)
    code, out, err = cli("vast", "launch", CONFIG, "--dry-run")
    assert code == 2 and "has uncommitted changes" in err
    assert fake.calls == []


def test_refuses_a_commit_that_is_not_pushed(tmp_path, monkeypatch, fake, cli):
    repo = make_repo(tmp_path, push=False)
    monkeypatch.chdir(repo.root)
    code, out, err = cli("vast", "launch", CONFIG, "--dry-run")
    assert code == 2 and f"commit {repo.commit[:12]} is not pushed" in err
    git(repo.root, "push", "-q", "-u", "origin", "main")
    git(repo.root, "commit", "-q", "--allow-empty", "-m", "local only")
    code, out, err = cli("vast", "launch", CONFIG, "--dry-run")
    assert code == 2 and "is not pushed" in err
    assert fake.calls == []


def test_refuses_outside_git(tmp_path, fake, cli):
    (tmp_path / "c.yaml").write_text("name: c\n")
    code, out, err = cli("vast", "launch", str(tmp_path / "c.yaml"), "--dry-run")
    assert code == 2 and "not inside a git repository" in err


def test_public_repo_url_drops_credentials():
    assert public_repo_url("git@github.com:org/unisim.git") == "https://github.com/org/unisim.git"
    assert (
        public_repo_url("https://bob:tok3n@github.com/org/u.git") == "https://github.com/org/u.git"
    )
    assert public_repo_url("ssh://git@gitlab.com:2222/org/u.git") == "https://gitlab.com/org/u.git"
    assert public_repo_url("/srv/git/u.git") == "/srv/git/u.git"


# ---------------------------------------------------------------- dry run


def test_dry_run_prints_script_and_request_and_creates_nothing(repo, fake, cli, caplog, tmp_path):
    (repo.root / "README.md").write_text("changed\n")  # another dirty file: a warning only
    before = sorted(p.name for p in repo.root.iterdir())
    code, out, err = cli(
        "vast", "launch", CONFIG, "--offer", "12", "--dry-run", "--max-hours", "1.5"
    )
    assert code == 0, err
    assert fake.calls == [] and fake.instances == {}  # --offer + --dry-run: no Vast API call
    assert sorted(p.name for p in repo.root.iterdir()) == before
    assert "dry run: nothing was created" in err
    assert "# warning: 1 tracked file(s) have uncommitted changes" in out and "README.md" in out
    script = out.split("# ---- onstart script ----\n")[1].split("# ---- create_instance")[0]
    assert f"UNISIM_COMMIT={repo.commit}" in script
    assert "UNISIM_GPU='GPU not looked up (dry run)'" in script
    assert "UNISIM_MAX_SECONDS=5400" in script and "UNISIM_AUTO_SHUTDOWN=destroy" in script
    path = tmp_path / "shown.sh"
    path.write_text(script)
    subprocess.run(["bash", "-n", str(path)], check=True)
    for key in ("MLFLOW_TRACKING_URI", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
        assert f'"{key}": "****"' in out
    assert '"offer_id": 12' in out and '"disk_gb": 40' in out
    assert_no_secret(out, err, caplog.text)


def test_auto_shutdown_flags(repo, fake):
    def action(flag):
        plan = launch_config(CONFIG, fake, auto_shutdown=flag, dry_run=True).plan
        return plan.spec.auto_shutdown

    assert (action(None), action(True), action(False)) == ("destroy", "destroy", "none")


def test_tracking_uri_must_reach_the_instance(repo, fake, cli, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    code, out, err = cli("vast", "launch", CONFIG, "--dry-run")
    assert code == 2 and "neither set here nor stored on Vast" in err
    fake.env_vars["MLFLOW_TRACKING_URI"] = "stored by setup-env"
    code, out, err = cli("vast", "launch", CONFIG, "--dry-run")
    assert code == 0 and '"MLFLOW_TRACKING_URI"' not in out  # the instance gets the stored one
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///mlruns/mlflow.db")
    code, out, err = cli("vast", "launch", CONFIG, "--dry-run")
    assert code == 2 and "local sqlite store" in err


# ---------------------------------------------------------------- failures leave nothing behind


def test_vanished_offer(repo, fake, cli):
    code, out, err = cli("vast", "launch", CONFIG, "--offer", "99")
    assert code == 2 and "offer 99 is no longer available" in err
    assert created(fake) == [] and fake.instances == {}
    # rented between the search and the create
    fake.fail["create_instance"] = OfferUnavailable("offer 11 is no longer available (HTTP 404)")
    code, out, err = cli("vast", "launch", CONFIG, "--poll-interval", "0")
    assert code == 2 and "offer 11 is no longer available" in err and fake.instances == {}


@pytest.mark.parametrize(
    ("statuses", "timeout", "fail", "reason"),
    [
        (["loading"], "0", None, "still loading after 0 s: pull failed; giving up"),
        (["loading", "exited"], "60", None, "is exited: pull failed; it will not start running"),
        (["loading", "unknown"], "60", None, "is unknown"),
        (["loading", "offline"], "60", None, "is offline"),
        (["loading"], "60", VastError("Vast.ai: show instance 1000 failed (HTTP 500)"), "HTTP 500"),
    ],
)
def test_failed_start_destroys_the_instance(repo, fake, cli, statuses, timeout, fail, reason):
    fake.statuses = statuses
    if fail is not None:
        fake.fail["show_instance"] = fail
    else:
        fake.on_create = lambda f, iid: f.instances[iid].update(status_msg="pull failed")
    code, out, err = cli("vast", "launch", CONFIG, "--timeout", timeout, "--poll-interval", "0")
    assert code == 2 and reason in err, err
    assert "instance 1000 destroyed" in err and err.count("\n") == 1
    assert fake.instances == {} and fake.destroyed == [1000]


def test_failed_cleanup_says_how_to_clean_up(repo, fake, cli):
    fake.statuses = ["exited"]
    real_destroy = fake.destroy_instance

    def destroy(iid):
        fake.calls.append(("destroy_instance", {"instance_id": iid}))
        raise VastError("Vast.ai: destroy instance 1000 failed (HTTP 503)")

    fake.destroy_instance = destroy
    code, out, err = cli("vast", "launch", CONFIG, "--poll-interval", "0")
    assert code == 2 and "destroy it with `unisim vast destroy 1000`" in err
    fake.destroy_instance = real_destroy


def test_ctrl_c_while_waiting_destroys_the_instance(repo, fake):
    fake.fail["show_instance"] = KeyboardInterrupt()
    with pytest.raises(KeyboardInterrupt):
        launch_config(CONFIG, fake, poll_s=0, write=lambda s: None)
    assert fake.instances == {} and fake.destroyed == [1000]


def test_secrets_in_errors_are_masked(repo, fake):
    fake.fail["create_instance"] = VastError(f"echo: {SECRETS['MLFLOW_TRACKING_PASSWORD']}")
    with pytest.raises(UnisimError) as info:
        launch_config(CONFIG, fake, poll_s=0, write=lambda s: None)
    assert_no_secret(str(info.value))


# ---------------------------------------------------------------- the whole flow


class InstanceLogs(FakeBackend):
    """A fake whose instance logs are the onstart script's log file (as Vast shows them)."""

    log_file = None
    reads_with_output = 0
    seen = None

    def logs(self, instance_id, *, tail=200):
        self._call("logs", instance_id=instance_id, tail=tail)
        text = self.log_file.read_text() if self.log_file.exists() else ""
        if "val/nrmse" in text:
            self.reads_with_output += 1
            if self.reads_with_output >= 2:  # `vast logs` read it, then `vast monitor` did
                self.seen.touch()
        return "\n".join(text.splitlines()[-tail:])


def test_search_launch_monitor_logs_auto_destroy(repo, cli, monkeypatch, tmp_path, caplog):
    fake = InstanceLogs(offers=[dict(o) for o in OFFERS], statuses=["loading", "running"])
    monkeypatch.setattr("unisim.vast.backend.open_backend", lambda: fake)
    box = tmp_path / "instance"
    box.mkdir()
    fake.log_file, fake.seen = box / "onstart.log", box / "logs-seen"

    code, out, err = cli("vast", "search")
    assert code == 0 and "RTX 4090" in out and "0.452" in out and "Sweden" in out
    assert fake.calls[0] == (
        "search_offers",
        {
            "query": "gpu_name=RTX_4090 num_gpus=1 reliability>0.98 dph<1.0",
            "order": "dph",
            "limit": 20,
        },
    )
    outputs = [out, err]

    code, out, err = cli("vast", "launch", CONFIG, "--offer", "11", "--poll-interval", "0")
    assert code == 0, err
    assert "created instance 1000" in out and "instance 1000 is running" in out
    outputs += [out, err]
    inst = fake.instances[1000]
    assert inst["env"]["MLFLOW_TRACKING_PASSWORD"] == SECRETS["MLFLOW_TRACKING_PASSWORD"]
    assert "VAST_API_KEY" not in inst["env"]
    script = decode_onstart_command(inst["onstart"])
    assert f"UNISIM_COMMIT={repo.commit}" in script

    # The "instance" runs its onstart script; its shutdown call destroys it in the fake.
    def apply(method, iid):
        fake.destroy_instance(iid) if method == "DELETE" else fake.stop_instance(iid)

    with VastAPIStandIn(on_request=apply) as api:
        env = script_env(box, api.url, container_id=1000, STUB_WAIT_FOR=str(fake.seen))
        env.update(inst["env"], UNISIM_LOG=str(fake.log_file))
        proc = subprocess.Popen(
            ["bash", "-c", script],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        stdout = []
        reader = threading.Thread(target=lambda: stdout.append(proc.stdout.read()))
        reader.start()
        for _ in range(400):  # wait (max ~20 s) until the pipeline has printed something
            code, out, err = cli("vast", "logs", "1000")
            if "val/nrmse" in out:
                break
            time.sleep(0.05)
        assert "epoch 1 val/nrmse 0.123" in out
        outputs += [out, err]
        code, out, err = cli("vast", "monitor", "1000", "--poll-interval", "0.05")
        proc.wait(timeout=60)
        reader.join(timeout=10)
    assert code == 0, err
    assert out.count("epoch 1 val/nrmse 0.123") == 1  # followed, each line once
    assert out.rstrip().endswith("instance 1000: destroyed")
    assert proc.returncode == 0, stdout
    assert [r[:2] for r in api.requests] == [("DELETE", "/api/v0/instances/1000/")]
    assert fake.instances == {} and fake.destroyed == [1000]
    assert_no_secret(out, err, *outputs, *stdout, fake.log_file.read_text(), caplog.text, script)
