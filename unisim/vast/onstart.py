"""The script a rented instance runs at start: clone, install, run the pipeline, shut down.

    spec = OnstartSpec(repo_url="https://github.com/org/unisim.git", commit="3f2a...",
                       config="experiments/2026-11-29-64dim/config.yaml", gpu="RTX 4090",
                       dph=0.41, auto_shutdown="destroy", max_hours=4.0)
    script = render_onstart(spec)        # bash, from onstart.sh.tmpl (shown by --dry-run)
    cmd = onstart_command(script)        # what goes into create_instance(onstart_cmd=...)

Every value is shell-quoted into the template; secrets are not among them: the
script reads MLFLOW_TRACKING_URI and credentials from the instance's environment.
Vast limits the ``onstart`` field to 4048 characters, so the command carries the
script gzip+base64 encoded, writes it to ``/root/unisim-onstart.sh`` and runs it.
"""

from __future__ import annotations

import base64
import gzip
import re
import shlex
import string
from dataclasses import dataclass
from importlib import resources

from unisim.errors import UnisimError

TEMPLATE = "onstart.sh.tmpl"
SCRIPT_PATH = "/root/unisim-onstart.sh"
ONSTART_LIMIT = 4048  # characters Vast accepts in the `onstart` field
SHUTDOWN_ACTIONS = ("stop", "destroy", "none")

_COMMIT_RE = re.compile(r"^[0-9a-f]{40}$")
_B64_RE = re.compile(r"echo ([A-Za-z0-9+/=]+) \| base64 -d")


class _ScriptTemplate(string.Template):
    # `@@{name}`: bash owns `$`, so the template uses a delimiter bash never does.
    delimiter = "@@"


@dataclass(frozen=True)
class OnstartSpec:
    """Everything the script needs; none of it is secret."""

    repo_url: str
    commit: str  # full 40-hex SHA: the instance checks out exactly this
    config: str  # repo-relative path of the config file
    gpu: str  # "RTX 4090", or "2x RTX 4090"; tag unisim.gpu
    dph: float  # $/hour of the offer; tag unisim.dph
    auto_shutdown: str = "destroy"  # stop | destroy | none
    max_hours: float = 4.0  # watchdog
    # A sweep worker instead of the pipeline: `unisim sweep CONFIG --space SPACE --worker`
    # joins study SWEEP_STUDY (UNISIM_SWEEP_STORAGE comes from the instance's environment).
    sweep_space: str = ""  # repo-relative space file; "" = run the pipeline
    sweep_study: str = ""
    sweep_trials: int = 0

    def check(self) -> None:
        if not _COMMIT_RE.match(self.commit):
            raise UnisimError(f"onstart: commit must be a full 40-hex SHA (got {self.commit!r})")
        if self.auto_shutdown not in SHUTDOWN_ACTIONS:
            raise UnisimError(
                f"onstart: auto_shutdown must be one of {SHUTDOWN_ACTIONS} "
                f"(got {self.auto_shutdown!r})"
            )
        if not self.max_hours > 0:
            raise UnisimError(f"onstart: max_hours must be > 0 (got {self.max_hours})")
        if self.sweep_space and (not self.sweep_study or self.sweep_trials < 1):
            raise UnisimError("onstart: a sweep worker needs a study name and trials >= 1")
        for name in ("repo_url", "config", "gpu"):
            value = getattr(self, name)
            if not value or any(ord(c) < 32 for c in value):
                raise UnisimError(f"onstart: {name} must be one printable line (got {value!r})")


def render_onstart(spec: OnstartSpec) -> str:
    """The bash script, every value shell-quoted (see ``onstart.sh.tmpl``)."""
    spec.check()
    text = resources.files("unisim.vast").joinpath(TEMPLATE).read_text(encoding="utf-8")
    values = {
        "repo_url": spec.repo_url,
        "commit": spec.commit,
        "config": spec.config,
        "gpu": spec.gpu,
        "dph": f"{spec.dph:.4f}",
        "auto_shutdown": spec.auto_shutdown,
        "max_seconds": str(max(1, round(spec.max_hours * 3600))),
        "max_hours": f"{spec.max_hours:g}",
        "sweep_space": spec.sweep_space,
        "sweep_study": spec.sweep_study,
        "sweep_trials": str(spec.sweep_trials),
    }
    return _ScriptTemplate(text).substitute({k: shlex.quote(v) for k, v in values.items()})


def onstart_command(script: str) -> str:
    """The ``onstart`` field: decode the gzip+base64 script to ``SCRIPT_PATH`` and run it."""
    packed = base64.b64encode(gzip.compress(script.encode(), mtime=0)).decode()
    cmd = f"echo {packed} | base64 -d | gunzip > {SCRIPT_PATH} && bash {SCRIPT_PATH}"
    if len(cmd) > ONSTART_LIMIT:
        raise UnisimError(
            f"onstart script is too long for Vast ({len(cmd)} > {ONSTART_LIMIT} characters "
            "after gzip+base64)"
        )
    return cmd


def decode_onstart_command(cmd: str) -> str:
    """The script inside an ``onstart_command`` (for --dry-run checks and tests)."""
    match = _B64_RE.search(cmd)
    if match is None:
        raise UnisimError("onstart command carries no gzip+base64 script")
    return gzip.decompress(base64.b64decode(match.group(1))).decode()
