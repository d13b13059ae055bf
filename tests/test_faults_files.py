"""Files faults must not leave: lock files after refused commands, empty folders lost by
archive and restore, secrets readable by others or shown in logs, and a Vast API call
in a dry run; plus a dead promoter's lease, which must expire.
"""

from __future__ import annotations

import json
import os
import stat

import pytest
from test_lifecycle_archive import FAILED, lab  # noqa: F401 (the archive lab fixture)
from test_promote_helpers import flat, make_candidate
from test_vast_helpers import SECRETS, set_secrets
from test_vast_launch import CONFIG, fake, repo  # noqa: F401 (fake Vast, a git repo)


def lock_files(root) -> list[str]:
    return [str(p) for p in root.rglob("*") if p.name == "lock" or p.name.endswith(".lock")]


# ---------------------------------------------------------------- lock files, empty folders


def test_refused_promote_archive_restore_leave_no_lock_file(lab, cli, store, client):  # noqa: F811
    root, _ = lab
    exp = client.get_experiment_by_name(FAILED)
    (failed_run,) = client.search_runs([exp.experiment_id], "tags.`unisim.kind` = 'pipeline'")
    code, _, err = cli("promote", "--run-id", failed_run.info.run_id)
    assert code == 1 and "gates_passed" in flat(err)
    assert cli("experiments", "restore", "2026-09-09-nothing")[0] == 2
    assert cli("experiments", "archive", "2026-09-09-nothing")[0] == 2
    assert cli("experiments", "archive", FAILED)[0] == 0  # and one that worked
    assert lock_files(root) == []
    assert not (root / "experiments-archive" / ".journal").exists()


def test_archive_and_restore_keep_empty_folders(lab, cli):  # noqa: F811
    root, _ = lab
    src = root / "experiments" / FAILED
    (src / "logs").mkdir()
    (src / "plots" / "later").mkdir(parents=True)
    assert cli("experiments", "archive", FAILED)[0] == 0
    dst = root / "experiments-archive" / FAILED
    assert (dst / "logs").is_dir() and (dst / "plots" / "later").is_dir()
    files = json.loads((dst / "metadata.json").read_text())["archive"]["files"]
    assert files["logs/"] == "dir" and files["plots/later/"] == "dir"  # in the manifest
    code, _, err = cli("experiments", "restore", FAILED)
    assert code == 0, err
    assert (src / "logs").is_dir() and (src / "plots" / "later").is_dir()


# ---------------------------------------------------------------- secrets


def test_the_basic_auth_ini_is_owner_only_from_creation(tmp_path, monkeypatch):
    from unisim.server import ServerSettings
    from unisim.server.process import _auth_env

    monkeypatch.setenv("MLFLOW_AUTH_ADMIN_PASSWORD", "admin-pw-1234")
    old = os.umask(0o022)  # the usual umask: a normal file would be 0644
    try:
        settings = ServerSettings(
            profile="test",
            backend_store_uri="sqlite:///x.db",
            artifacts_destination=str(tmp_path / "artifacts"),
            auth=True,
            auth_database_uri="postgresql://mlflow:db-secret-77@127.0.0.1/auth",
            state_dir=str(tmp_path / "state"),
        )
        env = _auth_env(settings)
    finally:
        os.umask(old)
    ini = tmp_path / "state" / "basic_auth.ini"
    assert env["MLFLOW_AUTH_CONFIG_PATH"] == str(ini) and "db-secret-77" in ini.read_text()
    assert stat.S_IMODE(ini.stat().st_mode) == 0o600


def test_vast_logs_mask_the_api_key(fake, cli, monkeypatch):  # noqa: F811
    set_secrets(monkeypatch)
    iid = fake.create_instance(
        fake.offers[0]["id"], image="img", disk_gb=10, env={}, onstart_cmd="", label="x"
    )
    fake.append_log(iid, f"curl -H 'Authorization: Bearer {SECRETS['VAST_API_KEY']}' ...")
    code, out, err = cli("vast", "logs", str(iid))
    assert code == 0, err
    assert SECRETS["VAST_API_KEY"] not in out and "Bearer ****" in out


def test_vast_dry_run_with_an_offer_calls_no_api(repo, fake, cli, monkeypatch):  # noqa: F811
    set_secrets(monkeypatch)
    monkeypatch.delenv("VAST_API_KEY")  # not even a key is needed
    monkeypatch.setattr("unisim.vast.backend.key_file_paths", lambda: [])
    monkeypatch.setattr(
        "unisim.vast.backend.open_backend", lambda: pytest.fail("a dry run opened the Vast API")
    )
    code, out, err = cli("vast", "launch", CONFIG, "--offer", "12", "--dry-run")
    assert code == 0, err
    assert '"offer_id": 12' in out and "dry run: nothing was created" in err
    assert fake.calls == []


# ---------------------------------------------------------------- the promotion lease


def test_a_dead_promoters_lease_expires(store, client, cli, monkeypatch):
    """A promoter killed while holding the lease blocks the others only until it expires."""
    from unisim.tracking import connect
    from unisim.tracking.lease import Lease

    run = make_candidate(store, "exp-a", 0.1)
    dead = Lease(connect(store), "burgers-surrogate", ttl_s=5)
    dead.acquire(timeout_s=0)  # ... and never released: its process died
    monkeypatch.setenv("UNISIM_LOCK_TIMEOUT_S", "1")
    code, _, err = cli("promote", "--run-id", run)
    assert code == 2 and "held the registry lock" in flat(err) and dead.holder in flat(err)
    monkeypatch.setenv("UNISIM_LOCK_TIMEOUT_S", "60")
    code, _, err = cli("promote", "--run-id", run)  # waits out the 5 s, then breaks it
    assert code == 0, err
    assert str(client.get_registered_model("burgers-surrogate").aliases["champion"]) == "1"
    assert client.search_registered_models("name = 'burgers-surrogate.promotion-lease'") == []
    with pytest.raises(Exception, match="expired or was taken over"):
        dead.renew()
