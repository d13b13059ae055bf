"""Vast.ai backends: the interface launch and monitor use, the SDK adapter, a fake for tests.

    backend = open_backend()          # SdkBackend over `vastai.VastAI` (VAST_API_KEY or key file)
    offers = backend.search_offers("gpu_name=RTX_4090 num_gpus=1", order="dph", limit=10)
    iid = backend.create_instance(offers[0]["id"], image=..., disk_gb=40, env={...},
                                  onstart_cmd="...", label="unisim:burgers")
    backend.show_instance(iid)["actual_status"]   # None | loading | running | exited | ...
    backend.logs(iid, tail=200); backend.stop_instance(iid); backend.destroy_instance(iid)

Every failure of the service is a ``VastError`` (one line, exit 2) that names the
action and the HTTP status, never a request body (it may hold secrets); an offer
that was rented meanwhile is ``OfferUnavailable``. ``FakeBackend`` keeps offers and
instances in memory, plays scripted status sequences and injected failures, and
records every call, so tests touch no network.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from unisim.errors import UnisimError

API_KEY_ENV = "VAST_API_KEY"


class VastError(UnisimError):
    """The Vast.ai service refused or failed a request (one line, exit 2)."""


class OfferUnavailable(VastError):
    """The chosen offer is gone (rented by someone else, or the machine left)."""


class VastBackend(Protocol):
    """What unisim needs from Vast.ai; ids are ints, instances and offers are plain dicts."""

    def search_offers(
        self, query: str, *, order: str = "dph", limit: int | None = None
    ) -> list[dict[str, Any]]: ...

    def create_instance(
        self,
        offer_id: int,
        *,
        image: str,
        disk_gb: float,
        env: dict[str, str],
        onstart_cmd: str,
        label: str,
    ) -> int: ...

    def show_instance(self, instance_id: int) -> dict[str, Any] | None: ...

    def logs(self, instance_id: int, *, tail: int = 200) -> str: ...

    def stop_instance(self, instance_id: int) -> None: ...

    def destroy_instance(self, instance_id: int) -> None: ...

    def env_var_names(self) -> set[str]: ...

    def put_env_var(self, name: str, value: str, *, exists: bool) -> None: ...


# ---------------------------------------------------------------- API key


def key_file_paths() -> list[Path]:
    """Where the SDK looks for a saved key: the XDG file, then the legacy one."""
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return [Path(config) / "vastai" / "vast_api_key", Path.home() / ".vast_api_key"]


def resolve_api_key() -> str:
    """``VAST_API_KEY``, else the SDK's key file; a one-line error naming both when missing."""
    key = os.environ.get(API_KEY_ENV, "").strip()
    if key:
        return key
    for path in key_file_paths():
        if path.is_file() and path.read_text().strip():
            return path.read_text().strip()
    raise VastError(
        f"no Vast.ai API key: set {API_KEY_ENV} or save the key to {key_file_paths()[0]} "
        "(`vastai set api-key KEY`)"
    )


# ---------------------------------------------------------------- SDK adapter


def _describe(response: Any) -> str:
    """``HTTP 404: no_such_ask`` from a response, one line, without the request."""
    status = getattr(response, "status_code", "?")
    detail = ""
    with contextlib.suppress(Exception):
        body = response.json()
        if isinstance(body, dict):
            detail = str(body.get("msg") or body.get("error") or "")
    if not detail:
        detail = str(getattr(response, "reason", "") or "")
    detail = " ".join(detail.split())[:200]
    return f"HTTP {status}: {detail}" if detail else f"HTTP {status}"


@contextlib.contextmanager
def _api(action: str) -> Iterator[None]:
    """Turn the SDK's ``requests`` exceptions into one-line ``VastError``s."""
    import requests

    try:
        yield
    except requests.HTTPError as exc:
        raise VastError(f"Vast.ai: {action} failed ({_describe(exc.response)})") from None
    except requests.RequestException as exc:
        raise VastError(
            f"Vast.ai: {action} failed: cannot reach the service ({type(exc).__name__})"
        ) from None


_GONE_MARKERS = ("no_such_ask", "not available", "unavailable", "already rented", "not found")


class SdkBackend:
    """``VastBackend`` over ``vastai.VastAI`` (v1.9): one method, one SDK call."""

    def __init__(self, api_key: str | None = None, server_url: str | None = None, retry: int = 3):
        try:
            from vastai import VastAI
        except ImportError:
            raise VastError("the vastai SDK is not installed: pip install 'unisim[vast]'") from None
        self.sdk = VastAI(
            api_key=api_key or resolve_api_key(), server_url=server_url, retry=retry, raw=True
        )

    def search_offers(
        self, query: str, *, order: str = "dph", limit: int | None = None
    ) -> list[dict[str, Any]]:
        try:
            with _api("search offers"):
                offers = self.sdk.search_offers(query=query, order=order, limit=limit)
        except ValueError as exc:  # the SDK's query parser
            raise VastError(f"offer query {query!r}: {' '.join(str(exc).split())}") from None
        return list(offers or [])

    def create_instance(
        self,
        offer_id: int,
        *,
        image: str,
        disk_gb: float,
        env: dict[str, str],
        onstart_cmd: str,
        label: str,
    ) -> int:
        import requests

        try:
            # ssh: the SSH launch mode is the one that runs `onstart` (the vastai CLI's default;
            # the SDK's default leaves the mode to the server). cancel_unavail: fail when the
            # machine is taken instead of creating a stopped instance.
            result = self.sdk.create_instance(
                offer_id,
                image=image,
                disk=disk_gb,
                env=dict(env),
                onstart_cmd=onstart_cmd,
                label=label,
                ssh=True,
                cancel_unavail=True,
            )
        except requests.HTTPError as exc:
            why = _describe(exc.response)
            if exc.response is not None and (
                exc.response.status_code in (404, 410)
                or any(m in why.lower() for m in _GONE_MARKERS)
            ):
                raise OfferUnavailable(
                    f"offer {offer_id} is no longer available ({why}); "
                    "pick another with `unisim vast search`"
                ) from None
            message = f"Vast.ai: create instance from offer {offer_id} failed ({why})"
            raise VastError(message) from None
        except requests.RequestException as exc:
            raise VastError(
                f"Vast.ai: create instance failed: cannot reach the service ({type(exc).__name__})"
            ) from None
        if not isinstance(result, dict) or not result.get("success", True):
            why = (result.get("msg") or result.get("error")) if isinstance(result, dict) else result
            raise OfferUnavailable(f"offer {offer_id} was refused ({why})")
        if "new_contract" not in result:
            raise VastError(f"Vast.ai: create instance returned no instance id ({sorted(result)})")
        return int(result["new_contract"])

    def show_instance(self, instance_id: int) -> dict[str, Any] | None:
        import requests

        with _api(f"show instance {instance_id}"):
            try:
                return self.sdk.show_instance(instance_id)
            except requests.HTTPError as exc:
                if exc.response is not None and exc.response.status_code == 404:
                    return None
                raise
            except (TypeError, KeyError):
                # The SDK post-processes fields (start_date, extra_env) that a fresh instance
                # may still lack; read the raw row instead.
                r = self.sdk.client.get(f"/instances/{instance_id}/", query_args={"owner": "me"})
                r.raise_for_status()
                body = r.json()
                return body.get("instances") if isinstance(body, dict) else None

    def logs(self, instance_id: int, *, tail: int = 200) -> str:
        try:
            with _api(f"logs of instance {instance_id}"):
                text = self.sdk.logs(instance_id, tail=str(tail))
        except TimeoutError:
            return ""  # the log file was not ready yet; the next poll gets it
        return text if isinstance(text, str) else ""

    def stop_instance(self, instance_id: int) -> None:
        with _api(f"stop instance {instance_id}"):
            self.sdk.stop_instance(instance_id)

    def destroy_instance(self, instance_id: int) -> None:
        with _api(f"destroy instance {instance_id}"):
            self.sdk.destroy_instance(instance_id)

    def env_var_names(self) -> set[str]:
        with _api("list env vars"):
            return set(self.sdk.show_env_vars(show_values=False) or {})

    def put_env_var(self, name: str, value: str, *, exists: bool) -> None:
        with _api(f"{'update' if exists else 'create'} env var {name}"):
            if exists:
                self.sdk.update_env_var(name, value)
            else:
                self.sdk.create_env_var(name, value)


def open_backend() -> VastBackend:
    """The real backend (tests monkeypatch this to hand the CLI a ``FakeBackend``)."""
    return SdkBackend()


# ---------------------------------------------------------------- fake for tests


@dataclass
class FakeBackend:
    """In-memory Vast.ai: offers, instances with scripted statuses, injected failures.

    ``statuses`` is what successive ``show_instance`` calls report for a new
    instance (the last one repeats); ``fail["create_instance"] = VastError(...)``
    makes the next such call raise; ``on_create(fake, instance_id)`` runs after a
    create (tests use it to execute the onstart script). ``calls`` records
    ``(method, kwargs)``; secrets sent as env are kept in ``instances[id]["env"]``.
    """

    offers: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[str | None] = field(default_factory=lambda: ["loading", "running"])
    fail: dict[str, Exception] = field(default_factory=dict)
    on_create: Callable[[FakeBackend, int], None] | None = None
    instances: dict[int, dict[str, Any]] = field(default_factory=dict)
    env_vars: dict[str, str] = field(default_factory=dict)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    destroyed: list[int] = field(default_factory=list)
    next_id: int = 1000

    def _call(self, method: str, **kwargs: Any) -> None:
        self.calls.append((method, kwargs))
        error = self.fail.pop(method, None)
        if error is not None:
            raise error

    def search_offers(
        self, query: str, *, order: str = "dph", limit: int | None = None
    ) -> list[dict[str, Any]]:
        self._call("search_offers", query=query, order=order, limit=limit)
        offers = [o for o in self.offers if not o.get("rented")]
        wanted = [t.split("=", 1)[1] for t in query.split() if t.startswith("id=")]
        if wanted:
            offers = [o for o in offers if str(o["id"]) in wanted]
        key, reverse = order.rstrip("-"), order.endswith("-")
        key = {"dph": "dph_total"}.get(key, key)
        offers.sort(key=lambda o: o.get(key, 0), reverse=reverse)
        return [dict(o) for o in offers[:limit]]

    def create_instance(
        self,
        offer_id: int,
        *,
        image: str,
        disk_gb: float,
        env: dict[str, str],
        onstart_cmd: str,
        label: str,
    ) -> int:
        self._call("create_instance", offer_id=offer_id, image=image, disk_gb=disk_gb, label=label)
        offer = next((o for o in self.offers if o["id"] == offer_id and not o.get("rented")), None)
        if offer is None:
            raise OfferUnavailable(f"offer {offer_id} is no longer available (fake)")
        offer["rented"] = True
        iid, self.next_id = self.next_id, self.next_id + 1
        self.instances[iid] = {
            "id": iid,
            "actual_status": None,
            "intended_status": "running",
            "gpu_name": offer.get("gpu_name"),
            "num_gpus": offer.get("num_gpus", 1),
            "dph_total": offer.get("dph_total"),
            "label": label,
            "image_uuid": image,
            "env": dict(env),
            "onstart": onstart_cmd,
            "status_msg": "",
            "_statuses": list(self.statuses),
            "_log": [],
        }
        if self.on_create is not None:
            self.on_create(self, iid)
        return iid

    def show_instance(self, instance_id: int) -> dict[str, Any] | None:
        self._call("show_instance", instance_id=instance_id)
        inst = self.instances.get(instance_id)
        if inst is None:
            return None
        queue = inst["_statuses"]
        if queue:  # play the script; its last status sticks
            inst["actual_status"] = queue.pop(0) if len(queue) > 1 else queue[0]
        return {k: v for k, v in inst.items() if not k.startswith("_") and k != "env"}

    def append_log(self, instance_id: int, text: str) -> None:
        self.instances[instance_id]["_log"].extend(text.splitlines())

    def logs(self, instance_id: int, *, tail: int = 200) -> str:
        self._call("logs", instance_id=instance_id, tail=tail)
        inst = self.instances.get(instance_id)
        if inst is None:
            raise VastError(f"Vast.ai: logs of instance {instance_id} failed (HTTP 404: fake)")
        return "\n".join(inst["_log"][-tail:])

    def set_status(self, instance_id: int, status: str | None) -> None:
        inst = self.instances[instance_id]
        inst["actual_status"], inst["_statuses"] = status, []

    def stop_instance(self, instance_id: int) -> None:
        self._call("stop_instance", instance_id=instance_id)
        if instance_id not in self.instances:
            raise VastError(f"Vast.ai: stop instance {instance_id} failed (HTTP 404: fake)")
        self.instances[instance_id]["intended_status"] = "stopped"
        self.set_status(instance_id, "stopped")

    def destroy_instance(self, instance_id: int) -> None:
        self._call("destroy_instance", instance_id=instance_id)
        if self.instances.pop(instance_id, None) is None:
            raise VastError(f"Vast.ai: destroy instance {instance_id} failed (HTTP 404: fake)")
        self.destroyed.append(instance_id)

    def env_var_names(self) -> set[str]:
        self._call("env_var_names")
        return set(self.env_vars)

    def put_env_var(self, name: str, value: str, *, exists: bool) -> None:
        self._call("put_env_var", name=name, exists=exists)
        self.env_vars[name] = value
