"""Secrets: the .env parser, `unisim vast setup-env`, what a launch forwards, redaction."""

from __future__ import annotations

import logging

import pytest
from test_vast_helpers import SECRETS, assert_no_secret

from unisim.errors import UnisimError
from unisim.vast.backend import FakeBackend
from unisim.vast.env import instance_env, parse_env_file, redact

ENV_FILE = f"""# team server
export MLFLOW_TRACKING_URI="{SECRETS["MLFLOW_TRACKING_URI"]}"
MLFLOW_TRACKING_USERNAME='{SECRETS["MLFLOW_TRACKING_USERNAME"]}'
MLFLOW_TRACKING_PASSWORD={SECRETS["MLFLOW_TRACKING_PASSWORD"]}  # rotate monthly

AWS_SECRET_ACCESS_KEY=aws-secret-3e9c
VAST_API_KEY={SECRETS["VAST_API_KEY"]}
EMPTY=
"""


@pytest.fixture
def fake(monkeypatch):
    backend = FakeBackend(env_vars={"MLFLOW_TRACKING_URI": "old"})
    monkeypatch.setattr("unisim.vast.backend.open_backend", lambda: backend)
    return backend


def test_parse_env_file(tmp_path):
    path = tmp_path / ".env"
    path.write_text(ENV_FILE)
    values = parse_env_file(path)
    assert values["MLFLOW_TRACKING_URI"] == SECRETS["MLFLOW_TRACKING_URI"]
    assert values["MLFLOW_TRACKING_USERNAME"] == SECRETS["MLFLOW_TRACKING_USERNAME"]
    assert values["MLFLOW_TRACKING_PASSWORD"] == SECRETS["MLFLOW_TRACKING_PASSWORD"]
    assert values["EMPTY"] == "" and len(values) == 6


def test_a_bad_line_is_named_without_its_content(tmp_path):
    path = tmp_path / ".env"
    path.write_text("A=1\nhunter2-pasted-without-key\n")
    with pytest.raises(UnisimError) as info:
        parse_env_file(path)
    assert str(info.value) == f"{path}:2: expected KEY=VALUE"


def test_setup_env_stores_values_and_prints_only_names(tmp_path, fake, cli, caplog):
    caplog.set_level(logging.DEBUG)
    (tmp_path / ".env").write_text(ENV_FILE)
    code, out, err = cli("vast", "setup-env", "--dry-run")
    assert code == 0 and "would store MLFLOW_TRACKING_PASSWORD (new)" in out
    assert fake.env_vars == {"MLFLOW_TRACKING_URI": "old"}  # dry run: nothing stored
    code, out, err = cli("vast", "setup-env", "--env-file", ".env")
    assert code == 0, err
    assert fake.env_vars == {
        "MLFLOW_TRACKING_URI": SECRETS["MLFLOW_TRACKING_URI"],
        "MLFLOW_TRACKING_USERNAME": SECRETS["MLFLOW_TRACKING_USERNAME"],
        "MLFLOW_TRACKING_PASSWORD": SECRETS["MLFLOW_TRACKING_PASSWORD"],
        "AWS_SECRET_ACCESS_KEY": "aws-secret-3e9c",
    }
    puts = [c[1] for c in fake.calls if c[0] == "put_env_var"]
    assert {"name": "MLFLOW_TRACKING_URI", "exists": True} in puts  # updated, not re-created
    assert (
        "stored MLFLOW_TRACKING_URI (updated)" in out
        and "stored AWS_SECRET_ACCESS_KEY (new)" in out
    )
    assert "skipped VAST_API_KEY: never sent to instances" in err
    assert "skipped EMPTY: empty value" in err
    assert_no_secret(out, err, caplog.text)
    assert "aws-secret-3e9c" not in out + err + caplog.text


def test_setup_env_missing_file(fake, cli):
    code, out, err = cli("vast", "setup-env", "--env-file", "nope.env")
    assert code == 2 and err == "error: nope.env: file not found\n"


def test_instance_env_forwards_only_tracking_and_named_keys():
    local = {**SECRETS, "HOME": "/root", "DATA_TOKEN": "d-123456", "MLFLOW_TRACKING_TOKEN": ""}
    env = instance_env(local)
    assert set(env) == {
        "MLFLOW_TRACKING_URI",
        "MLFLOW_TRACKING_USERNAME",
        "MLFLOW_TRACKING_PASSWORD",
    }
    assert instance_env(local, ["DATA_TOKEN"])["DATA_TOKEN"] == "d-123456"
    with pytest.raises(UnisimError, match="VAST_API_KEY must never be sent"):
        instance_env(local, ["VAST_API_KEY"])


def test_redact():
    text = f"uri {SECRETS['MLFLOW_TRACKING_URI']} user {SECRETS['MLFLOW_TRACKING_USERNAME']}"
    assert redact(text, SECRETS.values()) == "uri **** user ****"
    assert redact("a b", ["", "a"]) == "a b"  # too short to be a secret worth masking
