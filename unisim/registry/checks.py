"""What a promotion must pass before anything changes: each check says why.

    checks = validate(store, cand, result, state, existing, threshold=0.1, force=False, auto=False)
    [c for c in checks if not c.passed]      # empty: promotable

The run finished, its gates passed, it has a finite ``final_nrmse`` (under the
threshold when given), a logged model and a loadable ``config.yaml``, and it beats the
champion measured on the same data. The comparison always runs and is always shown;
``--force`` only overrides it when it fails (or cannot be made). A run that is
promoted replaces its production config (``configs/train_<name>.yaml``) if one exists:
that needs no flag, since being better than the champion is what promotion checks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from unisim import tracking as T
from unisim.registry.plan import fmt

if TYPE_CHECKING:
    from unisim.registry.candidates import Candidate


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str


def validate(
    store: T.Store,
    cand: Candidate,
    *,
    model_name: str,
    final_nrmse: float | None,
    config_path: Path | None,
    state: T.AliasState,
    existing: Any,
    threshold: float | None,
    force: bool,
    auto: bool,
) -> list[Check]:
    checks: list[Check] = []
    status = cand.run.info.status
    lifecycle = cand.run.data.tags.get(T.TAG_STATUS)
    ok = (status == "FINISHED" or (auto and status == "RUNNING")) and lifecycle not in (
        T.Status.FAILED,
        T.Status.ARCHIVED,
    )
    checks.append(Check("run_state", ok, f"run {cand.run_id} is {status} ({lifecycle})"))
    gates = cand.tag(T.TAG_GATES_PASSED)
    checks.append(Check("gates_passed", gates == "true", f"unisim.gates_passed={gates}"))
    final = final_nrmse
    checks.append(Check("final_nrmse", final is not None, f"final_nrmse={fmt(final)}"))
    if threshold is not None:
        passed = final is not None and final <= threshold
        checks.append(
            Check("nrmse_threshold", passed, f"final_nrmse {fmt(final)} <= {threshold:g}")
        )
    where = f"runs:/{cand.train_run_id}/model" if cand.train_run_id else "no train run found"
    checks.append(Check("model", cand.model_id is not None, f"logged model at {where}"))
    checks.append(
        Check("config", cand.config_error is None, cand.config_error or "config.yaml loads")
    )
    champion = _champion_check(store, cand, model_name, final, state, existing, force)
    checks.append(champion)
    path = config_path
    if path is None or not path.exists():
        checks.append(Check("production_config", path is not None, f"{path} is free"))
    else:  # promoted means production: its config replaces the one there
        how = "--force" if force and "(--force)" in champion.detail else "beats the champion"
        checks.append(Check("production_config", True, f"{path} will be overwritten ({how})"))
    return checks


def _champion_check(
    store: T.Store,
    cand: Candidate,
    model_name: str,
    final: float | None,
    state: T.AliasState,
    existing: Any,
    force: bool,
) -> Check:
    name = "better_than_champion"
    if state.champion is None:
        return Check(name, True, f"no champion of {model_name!r} yet")
    if existing is not None and str(existing.version) == state.champion:
        return Check(name, False, f"run is already the champion (version {state.champion})")
    champ = store.model_version(model_name, state.champion)
    ours, theirs = cand.tag(T.TAG_PROTOCOL), champ.tags.get(T.VTAG_PROTOCOL)
    if ours and theirs and ours != theirs:
        # numbers under different protocols (grid, splits, horizon, PDE...) cannot be ranked
        detail = (
            f"champion v{state.champion} was measured under protocol {theirs} "
            f"({champ.tags.get(T.VTAG_PROTOCOL_SUMMARY, '?')}), this run under {ours} "
            f"({cand.tag(T.TAG_PROTOCOL_SUMMARY) or '?'}): not comparable"
            + (" (--force)" if force else "; use --force to promote anyway")
        )
        return Check(name, force, detail)
    ch_data, data = champ.tags.get(T.VTAG_DATA_HASH), cand.tag(T.TAG_DATA_HASH)
    ch_value = champ.tags.get(T.VTAG_FINAL_NRMSE)
    ch_final = float(ch_value) if ch_value not in (None, "") else None
    forced = " (--force)" if force else ""
    basis = f"data {data}"
    if (not ch_data or ch_data != data) and cached_final(champ.tags, data) is not None:
        # The gates already evaluated the champion on this run's test data: use that.
        ch_data, ch_final = data, cached_final(champ.tags, data)
        basis = f"data {data}, champion evaluated by the gates"
    if not ch_data or not data or ch_data != data:
        detail = (
            f"champion v{state.champion} was measured on data {ch_data or 'unknown'}, this run "
            f"on {data or 'unknown'}: not comparable; evaluate both on the same data "
            f"or use --force{forced}"
        )
        return Check(name, force, detail)
    if ch_final is None or final is None:
        return Check(name, force, f"champion v{state.champion} has no final_nrmse{forced}")
    better = final < ch_final
    detail = (
        f"final_nrmse {fmt(final)} {'<' if better else '>='} champion "
        f"v{state.champion}'s {fmt(ch_final)} ({basis}){forced if not better else ''}"
    )
    return Check(name, better or force, detail)


def cached_final(tags: dict[str, str], data_hash: str | None) -> float | None:
    """The champion's test-split final_nrmse on ``data_hash`` cached by the evaluation gates."""
    prefix = T.champion_cache_prefix("test")
    for key, raw in tags.items():
        if data_hash and key.startswith(prefix) and key.endswith(f".{data_hash}"):
            try:
                value = float(json.loads(raw)["metrics"][T.FINAL_NRMSE])
            except (ValueError, KeyError, TypeError):
                continue
            return value if value == value else None  # NaN: not comparable
    return None
