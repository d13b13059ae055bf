"""Shared pieces for the vast tests: a git repo with a bare remote, offers, fake secrets,
a local stand-in for Vast's REST API, and a runner for the onstart script with stub tools.

Imported by the other tests/test_vast_*.py files (pytest puts tests/ on sys.path).
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

GIT_ENV = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
}
CONFIG_TEXT = "name: tiny\nvast:\n  query: gpu_name=RTX_4090 num_gpus=1\n  max_hours: 2\n"

OFFERS = [
    {
        "id": 11,
        "gpu_name": "RTX 4090",
        "num_gpus": 1,
        "dph_total": 0.452,
        "reliability": 0.995,
        "cuda_max_good": 12.4,
        "disk_space": 120.0,
        "geolocation": "Sweden, SE",
    },
    {
        "id": 12,
        "gpu_name": "RTX 4090",
        "num_gpus": 2,
        "dph_total": 0.871,
        "reliability": 0.991,
        "cuda_max_good": 12.2,
        "disk_space": 80.0,
        "geolocation": "Texas, US",
    },
]

# Fake secrets: none of these values may appear in any script, log line or output.
SECRETS = {
    "MLFLOW_TRACKING_URI": "https://alice:uri-pass-8d1f@mlflow.example.org",
    "MLFLOW_TRACKING_USERNAME": "alice-user-51c2",
    "MLFLOW_TRACKING_PASSWORD": "hunter2-pw-77ae",
    "VAST_API_KEY": "vast-account-key-9b3e",
}
CONTAINER_API_KEY = "container-key-4f0a"


def set_secrets(monkeypatch) -> None:
    for key, value in SECRETS.items():
        monkeypatch.setenv(key, value)


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        for key, value in [*SECRETS.items(), ("CONTAINER_API_KEY", CONTAINER_API_KEY)]:
            assert value not in text, f"the value of {key} leaked"


def git(cwd: Path, *args: str) -> str:
    out = subprocess.run(
        ["git", *args],
        cwd=cwd,
        env={**os.environ, **GIT_ENV},
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


@dataclass
class Repo:
    root: Path
    remote: Path
    config: Path  # absolute path of the committed config
    commit: str


def make_repo(base: Path, *, push: bool = True) -> Repo:
    """A repo with configs/train_tiny.yaml committed and (by default) pushed to a bare remote."""
    remote = base / "remote.git"
    git(base, "init", "-q", "--bare", "-b", "main", str(remote))
    root = base / "repo"
    (root / "configs").mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    config = root / "configs" / "train_tiny.yaml"
    config.write_text(CONFIG_TEXT)
    (root / "README.md").write_text("tiny\n")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "init")
    git(root, "remote", "add", "origin", str(remote))
    if push:
        git(root, "push", "-q", "-u", "origin", "main")
    return Repo(root, remote, config, git(root, "rev-parse", "HEAD"))


class VastAPIStandIn:
    """Vast's REST API on 127.0.0.1 for the onstart script's shutdown call.

    Records ``(method, path, authorization, body)``; ``on_request(method, instance_id)``
    lets a test apply the call to a FakeBackend.
    """

    def __init__(self, on_request=None):
        self.requests: list[tuple[str, str, str, dict]] = []
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self):
                size = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(size) or b"{}")
                auth = self.headers.get("Authorization", "")
                stand_in.requests.append((self.command, self.path, auth, body))
                if on_request is not None:
                    on_request(self.command, int(self.path.rstrip("/").rsplit("/", 1)[-1]))
                payload = b'{"success": true}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_PUT = do_DELETE = _handle

            def log_message(self, *args):  # keep test output clean
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> VastAPIStandIn:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


STUB_UNISIM = """#!/usr/bin/env bash
echo "unisim $*" >> "$STUB_CALLS"
if [ "$1" = run ]; then
  echo "epoch 1 val/nrmse 0.123 (stub pipeline)"
  if [ -n "${STUB_WAIT_FOR:-}" ]; then
    for _ in $(seq 300); do [ -e "$STUB_WAIT_FOR" ] && break; sleep 0.05; done
  fi
  exit "${STUB_RUN_RC:-0}"
fi
"""
STUB_PIP = """#!/usr/bin/env bash
echo "pip $*" >> "$STUB_CALLS"
"""


def script_env(tmp: Path, api_url: str, *, container_id: int = 4242, **extra: str) -> dict:
    """Environment of a fake instance: stub pip/unisim first on PATH, no proxies, fake secrets."""
    bin_dir = tmp / "stub-bin"
    bin_dir.mkdir(exist_ok=True)
    for name, text in (("unisim", STUB_UNISIM), ("pip", STUB_PIP)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "HOME": str(tmp),
        "STUB_CALLS": str(tmp / "stub-calls.txt"),
        "UNISIM_WORKDIR": str(tmp / "work"),
        "UNISIM_LOG": str(tmp / "onstart.log"),
        "UNISIM_CONSOLE": os.devnull,
        "UNISIM_DONE": str(tmp / "done-marker"),
        "VAST_API_URL": api_url,
        "CONTAINER_ID": str(container_id),
        "CONTAINER_API_KEY": CONTAINER_API_KEY,
        **{k: v for k, v in SECRETS.items() if k != "VAST_API_KEY"},
        **GIT_ENV,
    }
    env.update(extra)
    return env


def run_script(
    script: str, env: dict, tmp: Path, timeout: float = 60
) -> subprocess.CompletedProcess:
    path = tmp / "onstart.sh"
    path.write_text(script)
    return subprocess.run(
        ["bash", str(path)], env=env, capture_output=True, text=True, timeout=timeout
    )


def stub_calls(tmp: Path) -> list[str]:
    path = tmp / "stub-calls.txt"
    return path.read_text().splitlines() if path.exists() else []
