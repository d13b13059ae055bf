"""Contract test for the SDK adapter: the HTTP requests `SdkBackend` makes through vastai 1.9.

`requests.Session.send` (every request of the SDK goes through it: its VastSession
subclass, and plain `requests.get` for log files) is replaced by a recorder that
answers with canned JSON, so no network is touched. A change in the SDK that alters
a method, a URL, a query parameter or a JSON body fails here.
"""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from unisim.vast.backend import OfferUnavailable, SdkBackend, VastError

KEY = "test-api-key-0c1d"
BASE = "https://console.vast.ai"
LOG_URL = "https://logs.example.net/4242.log"
INSTANCE = {
    "id": 4242,
    "actual_status": "running",
    "gpu_name": "RTX 4090",
    "start_date": 1.0,
    "extra_env": [["FOO", "bar"]],
}


class Recorder:
    """Canned answers by (method, url-without-query); records every prepared request."""

    def __init__(self):
        self.sent: list[requests.PreparedRequest] = []
        self.answers: dict[tuple[str, str], tuple[int, object]] = {}

    def answer(self, method: str, url: str, status: int, body: object) -> None:
        self.answers[(method, url)] = (status, body)

    def send(self, session, prep, **kwargs):
        self.sent.append(prep)
        url = prep.url.split("?")[0]
        status, body = self.answers.get((prep.method, url), (599, {"msg": "unexpected"}))
        if isinstance(body, Exception):
            raise body
        resp = requests.Response()
        resp.status_code, resp.url, resp.request = status, prep.url, prep
        resp.reason = "canned"
        if isinstance(body, str):
            resp._content = body.encode()
        else:
            resp._content = json.dumps(body).encode()
            resp.headers["Content-Type"] = "application/json"
        return resp

    def one(self) -> tuple[str, str, dict, object]:
        """The single request sent since the last call: method, path, query, JSON body."""
        assert len(self.sent) == 1, [p.url for p in self.sent]
        prep = self.sent.pop()
        parts = urlsplit(prep.url)
        assert prep.headers["Authorization"] == f"Bearer {KEY}"
        body = json.loads(prep.body) if prep.body else None
        return prep.method, parts.path, parse_qs(parts.query), body


@pytest.fixture
def http(monkeypatch):
    recorder = Recorder()
    monkeypatch.setattr(
        requests.Session, "send", lambda self, prep, **kw: recorder.send(self, prep)
    )
    monkeypatch.setattr("vastai.api.client.time.sleep", lambda s: None)  # retry back-off
    monkeypatch.setattr("vastai.api.instances.time.sleep", lambda s: None)  # log-file polling
    return recorder


@pytest.fixture
def backend(monkeypatch):
    monkeypatch.setenv("VAST_API_KEY", KEY)
    return SdkBackend()


def test_search_offers(http, backend):
    http.answer("POST", f"{BASE}/api/v0/bundles/", 200, {"offers": [{"id": 11, "dph_total": 0.4}]})
    offers = backend.search_offers(
        "gpu_name=RTX_4090 num_gpus=1 reliability>0.98 dph<1.0", order="dph", limit=5
    )
    assert offers[0]["id"] == 11
    assert http.one() == (
        "POST",
        "/api/v0/bundles/",
        {},
        {
            "verified": {"eq": True},
            "external": {"eq": False},
            "rentable": {"eq": True},
            "gpu_name": {"eq": "RTX 4090"},
            "num_gpus": {"eq": "1"},
            "reliability": {"gt": "0.98"},
            "dph_total": {"lt": "1.0"},
            "order": [["dph_total", "asc"]],
            "type": "on-demand",
            "limit": 5,
            "allocated_storage": 5.0,
        },
    )


def test_create_instance(http, backend):
    http.answer("PUT", f"{BASE}/api/v0/asks/11/", 200, {"success": True, "new_contract": 4242})
    env = {"MLFLOW_TRACKING_URI": "https://mlflow.example.org"}
    iid = backend.create_instance(
        11,
        image="pytorch/pytorch:2.5.1",
        disk_gb=40,
        env=env,
        onstart_cmd="bash x.sh",
        label="unisim tiny",
    )
    assert iid == 4242
    assert http.one() == (
        "PUT",
        "/api/v0/asks/11/",
        {},
        {
            "client_id": "me",
            "image": "pytorch/pytorch:2.5.1",
            "env": env,
            "price": None,
            "disk": 40,
            "label": "unisim tiny",
            "extra": None,
            "onstart": "bash x.sh",
            "image_login": None,
            "python_utf8": False,
            "lang_utf8": False,
            "use_jupyter_lab": False,
            "jupyter_dir": None,
            "force": False,
            "cancel_unavail": True,
            "template_hash_id": None,
            "user": None,
            "runtype": "ssh_proxy",
        },
    )


def test_show_instance(http, backend):
    http.answer("GET", f"{BASE}/api/v0/instances/4242/", 200, {"instances": INSTANCE})
    assert backend.show_instance(4242)["actual_status"] == "running"
    assert http.one() == ("GET", "/api/v0/instances/4242/", {"owner": ["me"]}, None)


def test_show_instance_of_a_fresh_instance_and_a_missing_one(http, backend):
    fresh = {"id": 4242, "actual_status": None, "start_date": None, "extra_env": []}
    http.answer("GET", f"{BASE}/api/v0/instances/4242/", 200, {"instances": fresh})
    assert backend.show_instance(4242)["actual_status"] is None  # the SDK's post-processing fails
    http.sent.clear()
    http.answer("GET", f"{BASE}/api/v0/instances/4242/", 404, {"msg": "no such instance"})
    assert backend.show_instance(4242) is None


def test_logs(http, backend):
    http.answer("PUT", f"{BASE}/api/v0/instances/request_logs/4242/", 200, {"result_url": LOG_URL})
    http.answer("GET", LOG_URL, 200, "line 1\nline 2\n")
    assert backend.logs(4242, tail=50) == "line 1\nline 2\n"
    request_logs, fetch = http.sent
    assert (request_logs.method, urlsplit(request_logs.url).path) == (
        "PUT",
        "/api/v0/instances/request_logs/4242/",
    )
    assert json.loads(request_logs.body) == {"tail": "50"}
    assert (fetch.method, fetch.url) == ("GET", LOG_URL)


def test_stop_and_destroy_instance(http, backend):
    http.answer("PUT", f"{BASE}/api/v0/instances/4242/", 200, {"success": True})
    http.answer("DELETE", f"{BASE}/api/v0/instances/4242/", 200, {"success": True})
    backend.stop_instance(4242)
    assert http.one() == ("PUT", "/api/v0/instances/4242/", {}, {"state": "stopped"})
    backend.destroy_instance(4242)
    assert http.one() == ("DELETE", "/api/v0/instances/4242/", {}, {})


def test_env_vars(http, backend):
    http.answer("GET", f"{BASE}/api/v0/secrets/", 200, {"secrets": {"MLFLOW_TRACKING_URI": "x"}})
    http.answer("POST", f"{BASE}/api/v0/secrets/", 200, {"success": True})
    http.answer("PUT", f"{BASE}/api/v0/secrets/", 200, {"success": True})
    assert backend.env_var_names() == {"MLFLOW_TRACKING_URI"}
    assert http.one() == ("GET", "/api/v0/secrets/", {}, None)
    backend.put_env_var("MLFLOW_TRACKING_PASSWORD", "pw", exists=False)
    assert http.one() == (
        "POST",
        "/api/v0/secrets/",
        {},
        {"key": "MLFLOW_TRACKING_PASSWORD", "value": "pw"},
    )
    backend.put_env_var("MLFLOW_TRACKING_URI", "u", exists=True)
    assert http.one() == (
        "PUT",
        "/api/v0/secrets/",
        {},
        {"key": "MLFLOW_TRACKING_URI", "value": "u"},
    )


def test_vanished_offer_is_offer_unavailable(http, backend):
    http.answer(
        "PUT",
        f"{BASE}/api/v0/asks/11/",
        404,
        {"success": False, "error": "no_such_ask", "msg": "no longer available"},
    )
    with pytest.raises(OfferUnavailable, match="offer 11 is no longer available"):
        backend.create_instance(
            11, image="i", disk_gb=10, env={"K": "secret-v"}, onstart_cmd="x", label="l"
        )


def test_api_errors_are_one_line_without_request_bodies(http, backend):
    http.answer("PUT", f"{BASE}/api/v0/asks/11/", 400, {"msg": "insufficient credit"})
    with pytest.raises(VastError) as info:
        backend.create_instance(
            11, image="i", disk_gb=10, env={"K": "secret-value-1"}, onstart_cmd="x", label="l"
        )
    message = str(info.value)
    assert "HTTP 400" in message and "insufficient credit" in message
    assert "secret-value-1" not in message and "\n" not in message
    http.answer("DELETE", f"{BASE}/api/v0/instances/7/", 0, requests.ConnectionError("down"))
    with pytest.raises(VastError, match="cannot reach the service"):
        backend.destroy_instance(7)
    with pytest.raises(VastError, match="offer query 'gpu_name'"):
        backend.search_offers("gpu_name")


def test_missing_api_key_names_env_and_key_file(monkeypatch, tmp_path, cli):
    monkeypatch.delenv("VAST_API_KEY", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    with pytest.raises(VastError, match="VAST_API_KEY") as info:
        SdkBackend()
    assert str(tmp_path / "xdg" / "vastai" / "vast_api_key") in str(info.value)
    code, out, err = cli("vast", "search")
    assert code == 2 and err.count("\n") == 1 and "VAST_API_KEY" in err
    key_file = tmp_path / "xdg" / "vastai" / "vast_api_key"
    key_file.parent.mkdir(parents=True)
    key_file.write_text(KEY + "\n")
    assert SdkBackend().sdk.client.api_key == KEY
