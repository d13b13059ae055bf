"""A copied config gets the new experiment's identity: ``name``, ``tracking.experiment``
and ``description`` (the rest of the file, comments included, stays as written).

    text = rewrite_identity(raw_yaml, name="64dim-latent",
                            experiment="2026-11-29-64dim-latent",
                            description="2026-11-29-64dim-latent: based on configs/x.yaml")

The three keys are replaced line by line so the source's comments survive; when the
file's layout defeats that (flow mappings, anchors), the mapping is written out again
with the same values, comments lost. Either way the result is checked by parsing it.
"""

from __future__ import annotations

import json
import re
from typing import Any

import yaml


def _scalar(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a YAML scalar


def _block_end(lines: list[str], start: int) -> int:
    """Index after the block that starts at ``start`` (its more-indented lines)."""
    end = start + 1
    while end < len(lines) and (not lines[end].strip() or lines[end][:1] in (" ", "\t", "#")):
        if lines[end][:1] == "#":  # a top-level comment ends the block
            break
        end += 1
    while end > start + 1 and not lines[end - 1].strip():  # keep blank lines after it
        end -= 1
    return end


def _set_top(lines: list[str], key: str, value: str) -> list[str]:
    for i, line in enumerate(lines):
        if re.match(rf"^{re.escape(key)}\s*:", line):
            return [*lines[:i], f"{key}: {_scalar(value)}", *lines[_block_end(lines, i) :]]
    return [*lines, f"{key}: {_scalar(value)}"]


def _set_nested(lines: list[str], section: str, key: str, value: str) -> list[str]:
    for i, line in enumerate(lines):
        match = re.match(rf"^{re.escape(section)}\s*:(.*)$", line)
        if not match:
            continue
        if match.group(1).split("#", 1)[0].strip():  # `tracking: {...}`: not a block
            raise ValueError("flow mapping")
        end = _block_end(lines, i)
        children = [ln for ln in lines[i + 1 : end] if ln.strip() and not ln.lstrip().startswith("#")]
        indent = re.match(r"^(\s*)", children[0]).group(1) if children else "  "
        for j in range(i + 1, end):
            if re.match(rf"^{indent}{re.escape(key)}\s*:", lines[j]):
                stop = j + 1
                while stop < end and lines[stop].startswith(indent + " "):
                    stop += 1
                return [*lines[:j], f"{indent}{key}: {_scalar(value)}", *lines[stop:]]
        return [*lines[: i + 1], f"{indent}{key}: {_scalar(value)}", *lines[i + 1 :]]
    return [*lines, f"{section}:", f"  {key}: {_scalar(value)}"]


def _expected(data: dict[str, Any], name: str, experiment: str, description: str) -> dict:
    out = dict(data)
    out["name"], out["description"] = name, description
    out["tracking"] = {**(data.get("tracking") or {}), "experiment": experiment}
    return out


def rewrite_identity(text: str, *, name: str, experiment: str, description: str) -> str:
    """``text`` with ``name``, ``description`` and ``tracking.experiment`` replaced."""
    data = yaml.safe_load(text) or {}
    want = _expected(data, name, experiment, description)
    try:
        lines = text.splitlines()
        lines = _set_top(lines, "name", name)
        lines = _set_top(lines, "description", description)
        lines = _set_nested(lines, "tracking", "experiment", experiment)
        out = "\n".join(lines) + "\n"
        if yaml.safe_load(out) == want:
            return out
    except (ValueError, yaml.YAMLError, AttributeError):
        pass
    return yaml.safe_dump(want, sort_keys=False)
