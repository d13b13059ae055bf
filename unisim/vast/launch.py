"""Launch a pipeline run on a rented GPU: git checks, offer, onstart script, create, wait.

    result = launch_config("experiments/2026-11-29-64dim/config.yaml", backend, dry_run=True)
    print(result.plan.describe())      # the full script and the create request, secrets masked
    result = launch_config(path, backend, follow=True, write=print)
    result.instance_id, result.final_state

The instance clones the repository and checks out the exact commit, so launch
refuses (one line, exit 2), as the original launcher did, when the config is not
committed, has uncommitted changes, or its commit is on no remote branch. Secrets
travel as instance env vars (local MLFLOW_TRACKING_* or those stored by
``setup-env``), never in the script. If the wait for ``running`` fails (timeout, a
state that never runs, an API error, Ctrl-C), the created instance is destroyed:
a failed launch leaves nothing behind that bills. A dry run with ``--offer`` needs
no backend (``backend=None``) and calls no Vast API: the offer is not looked up.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from unisim.config import VastConfig, load_config
from unisim.errors import UnisimError
from unisim.vast.backend import OfferUnavailable, VastBackend, VastError
from unisim.vast.env import MASK, instance_env, redact
from unisim.vast.monitor import follow_logs, wait_until_running
from unisim.vast.onstart import SCRIPT_PATH, OnstartSpec, onstart_command, render_onstart

log = logging.getLogger(__name__)

TRACKING_KEY = "MLFLOW_TRACKING_URI"


# ---------------------------------------------------------------- git


@dataclass(frozen=True)
class GitState:
    root: Path
    commit: str  # full SHA the instance checks out
    config: str  # repo-relative (posix) path of the config
    repo_url: str  # as configured (vast.repo_url) or `git remote get-url origin`
    dirty: tuple[str, ...] = ()  # other tracked files with changes the instance will not see


def _git(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=30, check=False
    )


def check_git(config_path: str | Path, repo_url: str | None = None) -> GitState:
    """Refuse a config the instance could not check out exactly as it is here."""
    path = Path(config_path).resolve()
    top = _git(path.parent, "rev-parse", "--show-toplevel")
    if top.returncode:
        raise UnisimError(
            f"{config_path}: not inside a git repository (the instance clones the repository)"
        )
    root = Path(top.stdout.strip()).resolve()
    rel = path.relative_to(root).as_posix()
    if _git(root, "ls-files", "--error-unmatch", "--", rel).returncode:
        raise UnisimError(f"{config_path}: not committed (git add, commit and push it first)")
    if _git(root, "diff", "--quiet", "HEAD", "--", rel).returncode:
        raise UnisimError(f"{config_path}: has uncommitted changes (commit and push them first)")
    commit = _git(root, "rev-parse", "HEAD").stdout.strip()
    if not _git(root, "branch", "-r", "--contains", commit).stdout.strip():
        raise UnisimError(
            f"{config_path}: commit {commit[:12]} is not pushed to any remote branch "
            "(git push first)"
        )
    url = repo_url or _git(root, "remote", "get-url", "origin").stdout.strip()
    if not url:
        raise UnisimError("no repository URL: set vast.repo_url or add a git remote 'origin'")
    status = _git(root, "status", "--porcelain", "--untracked-files=no").stdout.splitlines()
    dirty = tuple(line[3:] for line in status if line[3:] != rel)
    return GitState(root=root, commit=commit, config=rel, repo_url=url, dirty=dirty)


def public_repo_url(url: str) -> str:
    """A URL the instance can clone, without credentials: ``git@host:o/r`` -> ``https://host/o/r``.

    A private repository authenticates with UNISIM_GIT_TOKEN from the instance env.
    """
    scp = re.match(r"^[\w.-]+@([\w.-]+):(?!//)(.+)$", url)
    if scp:
        return f"https://{scp.group(1)}/{scp.group(2)}"
    parts = urlsplit(url)
    if parts.scheme in ("http", "https", "ssh", "git") and parts.hostname:
        web = parts.scheme in ("http", "https")
        host = parts.hostname + (f":{parts.port}" if web and parts.port else "")
        return urlunsplit((parts.scheme if web else "https", host, parts.path, "", ""))
    return url


# ---------------------------------------------------------------- offers


def gpu_label(offer: Mapping[str, Any]) -> str:
    """``RTX 4090`` or ``2x RTX 4090`` (the ``unisim.gpu`` tag)."""
    name = str(offer.get("gpu_name") or "unknown GPU")
    count = int(offer.get("num_gpus") or 1)
    return f"{count}x {name}" if count > 1 else name


def format_offer(offer: Mapping[str, Any]) -> dict[str, str]:
    """Display columns of an offer: ID, GPU, $/h, reliability, CUDA, disk, location."""

    def num(key: str, fmt: str) -> str:
        value = offer.get(key)
        return fmt.format(value) if isinstance(value, (int, float)) else "-"

    reliability = offer.get("reliability", offer.get("reliability2"))
    return {
        "ID": str(offer.get("id", "-")),
        "GPU": gpu_label(offer),
        "$/h": num("dph_total", "{:.3f}"),
        "reliability": f"{reliability:.3f}" if isinstance(reliability, (int, float)) else "-",
        "CUDA": num("cuda_max_good", "{:.1f}"),
        "disk GB": num("disk_space", "{:.0f}"),
        "location": str(offer.get("geolocation") or "-"),
    }


def search_offers(
    backend: VastBackend, query: str | None, vast: VastConfig, limit: int = 20
) -> list[dict[str, Any]]:
    """Offers for ``query`` (default ``vast.query``), sorted by ``vast.order``."""
    return backend.search_offers(query or vast.query, order=vast.order, limit=limit)


def pick_offer(backend: VastBackend, vast: VastConfig, offer_id: int | None) -> dict[str, Any]:
    """The ``--offer`` (if it is still for rent) or the first offer matching ``vast.query``."""
    if offer_id is not None:
        offers = backend.search_offers(f"id={offer_id}", order=vast.order, limit=1)
        if not offers:
            raise OfferUnavailable(
                f"offer {offer_id} is no longer available; pick another with `unisim vast search`"
            )
        return offers[0]
    offers = backend.search_offers(vast.query, order=vast.order, limit=1)
    if not offers:
        raise VastError(f"no offer matches vast.query {vast.query!r}; relax it or pass --offer")
    return offers[0]


def check_tracking(env: Mapping[str, str], backend: VastBackend | None) -> str | None:
    """The run must report somewhere the instance can reach (never prints the URI).

    ``backend=None`` (a dry run that calls no API): a URI not set here is a warning,
    returned, since whether ``setup-env`` stored one on Vast is not asked.
    """
    uri = env.get(TRACKING_KEY)
    if uri is None:
        if backend is None:
            return f"{TRACKING_KEY} is not set here; a real launch checks that Vast stores one"
        if TRACKING_KEY in backend.env_var_names():
            return None
        raise UnisimError(
            f"{TRACKING_KEY} is neither set here nor stored on Vast (`unisim vast setup-env`): "
            "the run would report nowhere"
        )
    scheme = uri.split("://", 1)[0].lower() if "://" in uri else ""
    if scheme in ("", "file") or uri.startswith("sqlite:"):
        kind = "sqlite" if uri.startswith("sqlite:") else "file"
        raise UnisimError(
            f"{TRACKING_KEY} is a local {kind} store that a rented instance cannot reach; "
            "point it at the team server (http(s)://...)"
        )
    return None


# ---------------------------------------------------------------- plan and launch


@dataclass(frozen=True)
class LaunchPlan:
    config: str
    git: GitState
    offer: dict[str, Any]
    spec: OnstartSpec
    script: str
    request: dict[str, Any]  # create_instance keyword arguments (env holds secrets)
    vast: VastConfig = field(default_factory=VastConfig)
    warnings: tuple[str, ...] = ()

    def masked_request(self) -> dict[str, Any]:
        shown = dict(self.request)
        shown["env"] = {k: MASK for k in self.request["env"]}
        shown["onstart_cmd"] = (
            f"<{len(self.request['onstart_cmd'])} characters: the script above, gzip+base64, "
            f"written to {SCRIPT_PATH} and run>"
        )
        return shown

    def describe(self) -> str:
        """The full script and the create request, every secret value masked."""
        row = format_offer(self.offer)
        lines = [
            f"# offer {row['ID']}: {row['GPU']} at ${row['$/h']}/h, {row['location']}",
            f"# config {self.git.config} at commit {self.git.commit}",
            f"# auto-shutdown {self.spec.auto_shutdown}, watchdog {self.spec.max_hours:g} h",
            *(f"# warning: {w}" for w in self.warnings),
            "# ---- onstart script ----",
            self.script.rstrip("\n"),
            "# ---- create_instance request (secrets masked) ----",
            json.dumps(self.masked_request(), indent=2),
        ]
        return redact("\n".join(lines), self.request["env"].values())


@dataclass
class LaunchResult:
    plan: LaunchPlan
    instance_id: int | None = None  # None after --dry-run
    final_state: str | None = None  # after --follow: destroyed | stopped | exited | detached
    messages: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SweepJob:
    """``--sweep SPACE --study NAME --trials N``: the instance runs a sweep worker."""

    space: str
    study: str
    trials: int


def _sweep_spec(job: SweepJob, git: GitState, environ: Mapping[str, str]) -> dict[str, Any]:
    """The space file as the instance sees it (committed, repo-relative) and its storage."""
    space = Path(job.space).resolve()
    try:
        rel = space.relative_to(git.root).as_posix()
    except ValueError:
        raise UnisimError(f"--sweep {job.space}: not inside the repository") from None
    if _git(git.root, "ls-files", "--error-unmatch", "--", rel).returncode:
        raise UnisimError(f"--sweep {job.space}: not committed (git add, commit and push it)")
    if not environ.get(SWEEP_STORAGE_KEY):
        raise UnisimError(
            f"--sweep: set {SWEEP_STORAGE_KEY} to the study's database (a PostgreSQL URL the "
            "instance can reach); a worker there joins that study"
        )
    return {"sweep_space": rel, "sweep_study": job.study, "sweep_trials": job.trials}


SWEEP_STORAGE_KEY = "UNISIM_SWEEP_STORAGE"


def plan_launch(
    config_path: str | Path,
    backend: VastBackend | None,
    *,
    offer_id: int | None = None,
    auto_shutdown: bool | None = None,
    max_hours: float | None = None,
    environ: Mapping[str, str] | None = None,
    sweep: SweepJob | None = None,
) -> LaunchPlan:
    """Everything a launch would do, computed and checked; nothing is created.

    ``sweep``: a sweep worker instead of the pipeline (the space committed, and
    ``UNISIM_SWEEP_STORAGE`` set here: it is sent to the instance like the tracking URI).
    """
    # the job runs on the rented machine: this one's free memory says nothing about it
    cfg = load_config(config_path, check_memory=False)
    vast = cfg.vast
    git = check_git(config_path, vast.repo_url)
    local = os.environ if environ is None else environ
    extra = (SWEEP_STORAGE_KEY,) if sweep is not None else ()
    env = instance_env(local, (*vast.env_keys, *extra))
    sweep_fields = _sweep_spec(sweep, git, local) if sweep is not None else {}
    unchecked = check_tracking(env, backend)
    if backend is None:  # a dry run with --offer: no API call, so the offer is not looked up
        if offer_id is None:
            raise UnisimError("a launch without a Vast backend needs --offer (dry run only)")
        offer: dict[str, Any] = {"id": offer_id, "gpu_name": "GPU not looked up (dry run)"}
    else:
        offer = pick_offer(backend, vast, offer_id)
    if auto_shutdown is None:
        action = vast.auto_shutdown
    elif auto_shutdown:
        action = "destroy" if vast.auto_shutdown == "none" else vast.auto_shutdown
    else:
        action = "none"
    repo_url = public_repo_url(git.repo_url)
    warnings = [unchecked] if unchecked else []
    if git.dirty:
        warnings.append(
            f"{len(git.dirty)} tracked file(s) have uncommitted changes the instance will not "
            f"see (it runs commit {git.commit[:12]}): {', '.join(git.dirty[:5])}"
        )
    if "://" not in repo_url and not repo_url.startswith("git@"):
        warnings.append(f"repository URL {repo_url!r} is a local path the instance cannot clone")
    spec = OnstartSpec(
        repo_url=repo_url,
        commit=git.commit,
        config=git.config,
        gpu=gpu_label(offer),
        dph=float(offer.get("dph_total") or 0.0),
        auto_shutdown=action,
        max_hours=max_hours if max_hours is not None else vast.max_hours,
        **sweep_fields,
    )
    script = render_onstart(spec)
    request = {
        "offer_id": int(offer["id"]),
        "image": vast.image,
        "disk_gb": vast.disk_gb,
        "env": env,
        "onstart_cmd": onstart_command(script),
        "label": f"unisim {cfg.name} {git.commit[:8]}",
    }
    for warning in warnings:
        log.info("launch warning: %s", warning)  # the CLI shows them (and describe() does)
    return LaunchPlan(str(config_path), git, offer, spec, script, request, vast, tuple(warnings))


def _destroy_after_failure(backend: VastBackend, instance_id: int) -> str:
    try:
        backend.destroy_instance(instance_id)
    except UnisimError as exc:
        return (
            f"destroying instance {instance_id} failed too ({exc}); "
            f"destroy it with `unisim vast destroy {instance_id}`"
        )
    return f"instance {instance_id} destroyed"


def launch_config(
    config_path: str | Path,
    backend: VastBackend | None,
    *,
    offer_id: int | None = None,
    auto_shutdown: bool | None = None,
    max_hours: float | None = None,
    dry_run: bool = False,
    follow: bool = False,
    timeout_s: float | None = None,
    poll_s: float | None = None,
    write: Callable[[str], None] = print,
    environ: Mapping[str, str] | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    sweep: SweepJob | None = None,
) -> LaunchResult:
    """``unisim vast launch``: plan; unless ``dry_run``, create, wait for running, maybe follow."""
    plan = plan_launch(
        config_path,
        backend,
        offer_id=offer_id,
        auto_shutdown=auto_shutdown,
        max_hours=max_hours,
        environ=environ,
        sweep=sweep,
    )
    result = LaunchResult(plan)
    if dry_run:
        return result
    assert backend is not None, "only a dry run goes without a backend"
    timeout_s = plan.vast.start_timeout_s if timeout_s is None else timeout_s
    poll_s = plan.vast.poll_s if poll_s is None else poll_s
    secrets = list(plan.request["env"].values())
    for warning in plan.warnings:
        write(f"warning: {warning}")
    try:
        iid = backend.create_instance(**plan.request)
    except UnisimError as exc:
        raise type(exc)(redact(str(exc), secrets)) from None
    result.instance_id = iid
    write(f"created instance {iid} from offer {plan.request['offer_id']} ({plan.spec.gpu})")
    try:
        wait_until_running(
            backend, iid, timeout_s=timeout_s, poll_s=poll_s, report=write, sleep=sleep, clock=clock
        )
    except UnisimError as exc:
        cleanup = _destroy_after_failure(backend, iid)
        raise type(exc)(redact(f"{exc}; {cleanup}", secrets)) from None
    except KeyboardInterrupt:
        write(f"interrupted while waiting: {_destroy_after_failure(backend, iid)}")
        raise
    write(f"instance {iid} is running; follow it with `unisim vast monitor {iid}`")
    if follow:
        try:
            result.final_state = follow_logs(
                backend, iid, poll_s=poll_s, write=write, secrets=secrets, sleep=sleep
            )
        except KeyboardInterrupt:
            result.final_state = "detached"
        write(f"instance {iid}: {result.final_state}")
    return result
