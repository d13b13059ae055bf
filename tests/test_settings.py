"""The UNISIM_* settings and tracking profiles: one typed object, bad values refused."""

from __future__ import annotations

import pytest

from unisim.errors import UnisimError
from unisim.settings import load_profile, load_settings


def test_defaults_and_environment(monkeypatch, tmp_path):
    for var in ("UNISIM_ACTIVE_DAYS", "UNISIM_STALE_DAYS", "UNISIM_CONFIG_DIR"):
        monkeypatch.delenv(var, raising=False)
    s = load_settings()
    assert (s.active_days, s.stale_days, s.lock_timeout_s) == (7.0, 30.0, 300.0)
    assert s.profile_dir(tmp_path) == tmp_path / "mlruns-config"
    monkeypatch.setenv("UNISIM_ACTIVE_DAYS", "3")
    monkeypatch.setenv("UNISIM_CONFIG_DIR", str(tmp_path / "profiles"))
    s = load_settings()
    assert s.active_days == 3.0 and s.profile_dir() == tmp_path / "profiles"
    assert load_settings({"UNISIM_ACTIVE_DAYS": "5"}).active_days == 5.0  # a mapping wins
    monkeypatch.setenv("UNISIM_SERVER_PORT", "5001")  # a server.yaml variable: not a setting
    load_settings()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"UNISIM_ACTIVE_DAYS": "abc"}, "UNISIM_ACTIVE_DAYS: Input should be a valid number"),
        ({"UNISIM_STALE_DAYS": "-1"}, "UNISIM_STALE_DAYS: Input should be greater than 0"),
        ({"UNISIM_ACTIVE_DAYS": "40"}, "need active (40) <= stale (30)"),
        ({"UNISIM_DATA_WORKERS": "0"}, "UNISIM_DATA_WORKERS"),
    ],
)
def test_bad_values_are_one_line(monkeypatch, env, message):
    monkeypatch.delenv("UNISIM_STALE_DAYS", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(UnisimError) as err:
        load_settings()
    assert message in str(err.value) and "\n" not in str(err.value)


def test_cli_refuses_a_bad_setting_with_exit_2(monkeypatch, cli, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("UNISIM_ACTIVE_DAYS", "soon")
    code, _, err = cli("experiments", "list")
    assert code == 2 and err.count("\n") == 1 and "UNISIM_ACTIVE_DAYS" in err and "soon" in err


def test_profiles_refuse_unknown_keys(monkeypatch, tmp_path, cli):
    monkeypatch.setenv("UNISIM_CONFIG_DIR", str(tmp_path))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    (tmp_path / "team.yaml").write_text("tracking_uri: http://127.0.0.1:1\nartefact_root: x\n")
    with pytest.raises(UnisimError, match=r"team.yaml: artefact_root: unknown key"):
        load_profile("team")
    (tmp_path / "lab.yaml").write_text("artifact_root: x\n")
    with pytest.raises(UnisimError, match=r"lab.yaml: tracking_uri: required key is missing"):
        load_profile("lab")
    assert load_profile("local").tracking_uri == "sqlite:///mlruns/mlflow.db"  # built in
    code, _, err = cli("runs", "list", "--profile", "team")
    assert code == 2 and "artefact_root: unknown key" in err and err.count("\n") == 1
