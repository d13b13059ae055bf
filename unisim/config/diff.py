"""Which resolved keys differ between two configs (includes and overrides applied).

    d = diff_configs("configs/train_burgers_golden.yaml", "configs/train_burgers_32dim.yaml")
    d.rows          # [(dotted key, value A, value B)], sorted; None: key absent on that side
    d.same_model    # equal config hashes: both train the same model on the same data

Keys are the flattened MLflow param names; lists of sections (the gate list) are spelt
out item by item (``gates.metrics[0].threshold``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from unisim.config.export import config_hash, flatten
from unisim.config.loader import load_config
from unisim.config.schema import Config


@dataclass
class ConfigDiff:
    a: str
    b: str
    hash_a: str
    hash_b: str
    rows: list[tuple[str, str | None, str | None]]  # (key, A, B); None: key absent on that side

    @property
    def same_model(self) -> bool:
        """Equal config hashes: both configs train the same model on the same data."""
        return self.hash_a == self.hash_b

    def to_dict(self) -> dict[str, Any]:
        diffs = [{"key": k, "a": va, "b": vb} for k, va, vb in self.rows]
        return {"a": self.a, "b": self.b, "config_hash_a": self.hash_a,
                "config_hash_b": self.hash_b, "same_model": self.same_model,
                "differences": diffs}  # fmt: skip


def _expanded(cfg: Config) -> dict[str, str]:
    """``flatten`` plus lists of sections (the gate list) spelt out: ``gates.metrics[0].metric``."""
    out: dict[str, str] = {}
    for key, value in flatten(cfg).items():
        items = json.loads(value) if value.startswith("[") else None
        if isinstance(items, list) and items and all(isinstance(i, dict) for i in items):
            for i, item in enumerate(items):
                out.update(flatten(item, prefix=f"{key}[{i}]."))
        else:
            out[key] = value
    return out


def diff_configs(
    a: str | Path,
    b: str | Path,
    overrides: list[str] | None = None,
    overrides_a: list[str] | None = None,
    overrides_b: list[str] | None = None,
) -> ConfigDiff:
    """The keys whose resolved values differ (includes and overrides applied), sorted.

    ``overrides`` apply to both configs, then ``overrides_a`` / ``overrides_b`` to one.
    """
    both = list(overrides or [])
    cfg_a = load_config(a, [*both, *(overrides_a or [])])
    cfg_b = load_config(b, [*both, *(overrides_b or [])])
    flat_a, flat_b = _expanded(cfg_a), _expanded(cfg_b)
    rows = [
        (key, flat_a.get(key), flat_b.get(key))
        for key in sorted(set(flat_a) | set(flat_b))
        if flat_a.get(key) != flat_b.get(key)
    ]
    return ConfigDiff(str(a), str(b), config_hash(cfg_a), config_hash(cfg_b), rows)
