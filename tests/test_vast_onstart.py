"""The onstart script: rendering, shell checks, and real runs under bash with stub tools.

The script runs for real: git clones a local bare "remote" and checks out the
commit, stub `pip`/`unisim` record their arguments, and the shutdown call goes to a
stand-in for Vast's REST API on 127.0.0.1.
"""

from __future__ import annotations

import base64
import gzip
import re
import shutil
import subprocess

import pytest
from test_vast_helpers import (
    CONTAINER_API_KEY,
    VastAPIStandIn,
    assert_no_secret,
    make_repo,
    run_script,
    script_env,
    stub_calls,
)

from unisim.errors import UnisimError
from unisim.vast.onstart import (
    ONSTART_LIMIT,
    SCRIPT_PATH,
    OnstartSpec,
    decode_onstart_command,
    onstart_command,
    render_onstart,
)


def spec(**over) -> OnstartSpec:
    base = dict(
        repo_url="https://github.com/org/unisim.git",
        commit="a" * 40,
        config="experiments/2026-11-29-64 dim/config.yaml",
        gpu="2x RTX 4090",
        dph=0.41234,
        auto_shutdown="destroy",
        max_hours=4.0,
    )
    base.update(over)
    return OnstartSpec(**base)


def test_rendered_script_passes_bash_n_and_shellcheck(tmp_path):
    for action in ("stop", "destroy", "none"):
        path = tmp_path / f"onstart-{action}.sh"
        path.write_text(render_onstart(spec(auto_shutdown=action)))
        subprocess.run(["bash", "-n", str(path)], check=True)
        if shutil.which("shellcheck"):
            out = subprocess.run(["shellcheck", str(path)], capture_output=True, text=True)
            assert out.returncode == 0, out.stdout


def test_values_are_quoted_and_tags_passed():
    script = render_onstart(spec())
    assert "UNISIM_CONFIG='experiments/2026-11-29-64 dim/config.yaml'" in script
    assert "UNISIM_GPU='2x RTX 4090'" in script
    assert "UNISIM_DPH=0.4123" in script
    assert "UNISIM_MAX_SECONDS=14400" in script
    assert "\nset -euo pipefail\n" in script
    assert not re.search(r"^\s*(set -[a-z]*x|env\b|printenv)", script, re.M)  # never echo env
    for tag in ("unisim.vast_instance=", "unisim.gpu=", "unisim.dph="):
        assert f'--tag "{tag}' in script
    assert "@@" not in script  # every placeholder filled


def test_bad_values_refused():
    with pytest.raises(UnisimError, match="commit"):
        render_onstart(spec(commit="abc123"))
    with pytest.raises(UnisimError, match="config"):
        render_onstart(spec(config="x.yaml\nrm -rf /"))
    with pytest.raises(UnisimError, match="auto_shutdown"):
        render_onstart(spec(auto_shutdown="halt"))


def test_onstart_command_fits_vast_limit_and_decodes_in_bash(tmp_path):
    script = render_onstart(spec())
    cmd = onstart_command(script)
    assert len(cmd) <= ONSTART_LIMIT < len(script)  # why the script travels compressed
    assert cmd.endswith(f"> {SCRIPT_PATH} && bash {SCRIPT_PATH}")
    assert decode_onstart_command(cmd) == script
    decode = cmd.split(" > ")[0]  # "echo B64 | base64 -d | gunzip", run by a real shell
    out = subprocess.run(["bash", "-c", decode], capture_output=True, text=True, check=True)
    assert out.stdout == script
    with pytest.raises(UnisimError, match="too long"):
        noise = base64.b64encode(gzip.compress(bytes(range(256)) * 20)).decode()
        onstart_command(script + "# " + noise * 2)


@pytest.fixture
def repo(tmp_path):
    return make_repo(tmp_path)


def render_for(repo, **over) -> str:
    return render_onstart(
        spec(
            repo_url=str(repo.remote), commit=repo.commit, config="configs/train_tiny.yaml", **over
        )
    )


def test_script_runs_pipeline_then_syncs_and_destroys(tmp_path, repo):
    with VastAPIStandIn() as api:
        out = run_script(render_for(repo), script_env(tmp_path, api.url), tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    calls = stub_calls(tmp_path)
    assert calls[0] == "pip install --quiet --no-input --progress-bar off -e .[server]"
    assert calls[1] == (
        "unisim run configs/train_tiny.yaml --strict-exit --tag unisim.vast_instance=4242 "
        "--tag unisim.gpu=2x RTX 4090 --tag unisim.dph=0.4123"
    )
    assert calls[2] == "unisim sync"
    assert api.requests == [
        ("DELETE", "/api/v0/instances/4242/", f"Bearer {CONTAINER_API_KEY}", {})
    ]
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=tmp_path / "work", capture_output=True, text=True
    ).stdout.strip()
    assert head == repo.commit
    assert "epoch 1 val/nrmse" in out.stdout
    assert (tmp_path / "onstart.log").read_text().count("epoch 1 val/nrmse") == 1
    assert_no_secret(out.stdout, out.stderr, (tmp_path / "onstart.log").read_text())


def test_failed_pipeline_still_syncs_and_stops_with_its_exit_code(tmp_path, repo):
    with VastAPIStandIn() as api:
        env = script_env(tmp_path, api.url, STUB_RUN_RC="3")
        out = run_script(render_for(repo, auto_shutdown="stop"), env, tmp_path)
    assert out.returncode == 3
    assert stub_calls(tmp_path)[-1] == "unisim sync"
    assert api.requests == [
        ("PUT", "/api/v0/instances/4242/", f"Bearer {CONTAINER_API_KEY}", {"state": "stopped"})
    ]
    assert "job ended with exit code 3" in out.stdout
    # a restarted container does not run the job (or the shutdown) again
    with VastAPIStandIn() as api:
        again = run_script(render_for(repo, auto_shutdown="stop"), env, tmp_path)
    assert again.returncode == 0 and api.requests == []
    assert "already ran its job" in again.stdout


def test_missing_tracking_uri_gives_up_before_cloning_and_still_shuts_down(tmp_path, repo):
    with VastAPIStandIn() as api:
        env = script_env(tmp_path, api.url)
        del env["MLFLOW_TRACKING_URI"]
        out = run_script(render_for(repo), env, tmp_path)
    assert out.returncode == 2
    assert "MLFLOW_TRACKING_URI is not set" in out.stdout
    assert not (tmp_path / "work").exists()
    assert [r[0] for r in api.requests] == ["DELETE"]


def test_auto_shutdown_none_leaves_the_instance(tmp_path, repo):
    with VastAPIStandIn() as api:
        out = run_script(
            render_for(repo, auto_shutdown="none"), script_env(tmp_path, api.url), tmp_path
        )
    assert out.returncode == 0 and api.requests == []
    assert "auto-shutdown is off" in out.stdout


def test_watchdog_shuts_down_a_run_that_overstays(tmp_path, repo):
    """max_hours ~ 1 s: the watchdog's shutdown arrives while the pipeline still runs."""
    flag = tmp_path / "shutdown-requested"
    with VastAPIStandIn(on_request=lambda method, iid: flag.touch()) as api:
        env = script_env(tmp_path, api.url, STUB_WAIT_FOR=str(flag))
        out = run_script(render_for(repo, max_hours=1 / 3600), env, tmp_path)
    assert "watchdog: --max-hours" in out.stdout
    first_shutdown = out.stdout.index("auto-shutdown: destroy")
    assert first_shutdown < out.stdout.index("pipeline finished")
    assert len(api.requests) == 2  # the watchdog's, then the exit trap's
