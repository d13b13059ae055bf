"""Config files in, a validated ``Config`` out: YAML, ``include:``, ``--set`` overrides, errors.

    cfg = load_config("configs/train_burgers_golden.yaml", ["training.lr=3e-4"])
    cfg = build_config({"model": {"name": "fno"}}, ["data.nx=64"], source="<built-in>")
    cfg = build_stored_config(yaml.safe_load(artifact_text), source="runs:/<id>/config.yaml")

Layers: defaults -> YAML (an ``include: base.yaml`` is read first and deep-merged under
the file) -> ``KEY=VALUE`` overrides (the value parsed as YAML). Anything wrong is one
``ConfigError`` line naming where (the file, or ``--set`` when the offending key came
from an override), the dotted key and the value; a duplicate key in a YAML mapping is
refused with its line.

Architectures. ``model:`` holds the shared keys and the section of its own
architecture only (``model.latent`` for ``name: latent``); a section of another
architecture is refused. One exception: ``--set model.name=fno`` on a config of another
architecture drops that architecture's section from the file first, so
``unisim run configs/train_burgers_golden.yaml --set model.name=fno`` trains the FNO
with its defaults (add ``--set model.fno.width=32`` and the like to size it).

Stored configs. Runs store their resolved config (``config.yaml`` artifact, checkpoint);
older unisim wrote every architecture's section there. ``build_stored_config`` reads
those: it drops the sections of architectures other than ``model.name``, does not
check the data's memory needs against this machine, and accepts gate metric names that
evaluation no longer knows. Every reader of stored configs uses it; user-written files
go through ``load_config``.

Memory. ``build_config`` and ``load_config`` refuse a config whose data cannot fit in
the memory available now (``unisim.config.memory``), unless ``check_memory=False``
(configs that run elsewhere, e.g. on a rented GPU).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from unisim.config.base import STORED, CrossFieldError
from unisim.config.memory import available_memory, data_memory, gib
from unisim.config.schema import MODEL_NAMES, MODEL_SPECS, Config, foreign_sections
from unisim.errors import ConfigError
from unisim.models import DEFAULT_MODEL

# ---------------------------------------------------------------- YAML


class _DuplicateKey(yaml.YAMLError):
    def __init__(self, key: Any, line: int, first: int) -> None:
        super().__init__(f"line {line}: duplicate key {key!r} (first at line {first})")
        self.line = line


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping (plain YAML keeps the last)."""

    def construct_mapping(self, node: yaml.Node, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            first: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue  # `<<: *base` may legitimately be overridden by explicit keys
                key = self.construct_object(key_node, deep=True)
                line = key_node.start_mark.line + 1
                try:
                    if key in first:
                        raise _DuplicateKey(key, line, first[key])
                    first[key] = line
                except TypeError:  # an unhashable key: SafeLoader reports it below
                    pass
        return super().construct_mapping(node, deep=deep)  # type: ignore[arg-type]


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"{path}: file not found")
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_StrictLoader)
    except _DuplicateKey as exc:
        raise ConfigError(f"{path}: {exc}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}: invalid YAML{where}: {problem}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a UTF-8 text file") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping (got {type(data).__name__})")
    return data


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _load_with_includes(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    resolved = path.resolve()
    if resolved in seen:
        raise ConfigError(f"{path}: include cycle ({' -> '.join(str(p) for p in seen)})")
    data = _read_yaml(path)
    include = data.pop("include", None)
    if include is None:
        return data
    if not isinstance(include, str):
        raise ConfigError(f"{path}: include: must be a file path (got {include!r})")
    base = path.parent / include
    if not base.is_file():  # name the including file: the included path alone is a riddle
        raise ConfigError(f"{path}: include: {include}: file not found")
    return _deep_merge(_load_with_includes(base, (*seen, resolved)), data)


# ---------------------------------------------------------------- overrides

_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def parse_override(item: str) -> tuple[str, Any]:
    """``"training.lr=3e-4"`` -> ``("training.lr", 0.0003)``; the value is parsed as YAML."""
    key, sep, raw = item.partition("=")
    key = key.strip()
    if not sep or not _KEY_RE.match(key):
        raise ConfigError(f"--set {item!r}: expected KEY=VALUE with a dotted key")
    try:
        value = yaml.load(raw, Loader=_StrictLoader) if raw.strip() else ""
    except _DuplicateKey as exc:
        raise ConfigError(f"--set {key}: {str(exc).split(': ', 1)[1]}") from None
    except yaml.YAMLError:
        value = raw
    return key, value


def _apply_override(data: dict[str, Any], key: str, value: Any) -> None:
    node = data
    parts = key.split(".")
    for part in parts[:-1]:
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        elif not isinstance(child, dict):
            raise ConfigError(f"--set {key}: {part} is not a section")
        node = child
    node[parts[-1]] = value


def _switch_architecture(data: dict[str, Any], overrides: dict[str, Any]) -> None:
    """``--set model.name=X`` on a config of another architecture: drop the old one's section."""
    model = data.get("model")
    if "model.name" not in overrides or not isinstance(model, dict):
        return
    old = model.get("name", DEFAULT_MODEL)
    if old != overrides["model.name"] and old in MODEL_SPECS:
        for section in MODEL_SPECS[old].sections():
            model.pop(section, None)


def _from_set(key: str, set_keys: set[str]) -> bool:
    """Did ``--set`` give this key, a section above it, or a key inside it?"""
    return any(k == key or key.startswith(f"{k}.") or k.startswith(f"{key}.") for k in set_keys)


# ---------------------------------------------------------------- errors

_MESSAGES = {
    "extra_forbidden": "unknown key",
    "missing": "required key is missing",
    "greater_than": "must be > {gt}",
    "greater_than_equal": "must be >= {ge}",
    "less_than": "must be < {lt}",
    "less_than_equal": "must be <= {le}",
    "literal_error": "must be one of {expected}",
}


def _num(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _one_of(names: tuple[str, ...]) -> str:
    quoted = [repr(n) for n in names]
    return quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"


def _model_name(data: dict[str, Any]) -> Any:
    model = data.get("model")
    return model.get("name", DEFAULT_MODEL) if isinstance(model, dict) else None


def _describe(err: Any, data: dict[str, Any], set_keys: set[str]) -> tuple[str, str, str]:
    """(dotted key, message, " (got VALUE)" or "") of one pydantic error."""
    from unisim.pdes import pde_names

    loc = [str(p) for p in err["loc"]]
    name = _model_name(data)
    if loc[:1] == ["model"] and len(loc) > 1 and loc[1] == name:
        del loc[1]  # the union inserts the architecture's tag: model.latent.latent.dim
    if loc[:2] == ["data", "equation"] and len(loc) > 2 and loc[2] in pde_names():
        del loc[2]  # the PDE union's tag: data.equation.burgers.nu
    # a coefficient draw's tag (fixed, set, log_uniform): data.equation.nu.fixed
    loc = [p for i, p in enumerate(loc) if not (i > 2 and p in _DRAW_TAGS)]
    key = ".".join(loc)
    cause = (err.get("ctx") or {}).get("error")
    got = f" (got {err['input']!r})" if err["type"] != "missing" and key else ""
    if isinstance(cause, CrossFieldError):  # its message carries the values
        keys = [".".join([*loc, k]) for k in cause.keys]
        return next((k for k in keys if _from_set(k, set_keys)), keys[0]), str(cause), ""
    if err["type"] == "union_tag_not_found":  # neither a mapping nor a model config
        return key, "must be a mapping", got
    if err["type"] == "union_tag_invalid" and loc == ["data", "equation"]:
        got_pde = (err.get("ctx") or {}).get("tag")
        known = ", ".join(pde_names())
        return f"{key}.name", f"{got_pde!r} is not a registered PDE (one of {known})", ""
    if err["type"] == "union_tag_invalid":
        return f"{key}.name", f"must be one of {_one_of(MODEL_NAMES)}", f" (got {name!r})"
    if err["type"] == "extra_forbidden" and len(loc) == 2 and loc[1] in foreign_sections(name):
        owner = next(n for n, spec in MODEL_SPECS.items() if loc[1] in spec.sections())
        msg = f"a section of model {owner!r}, but model.name is {name!r}"
        return key, msg, got
    template = _MESSAGES.get(err["type"])
    ctx = {k: _num(v) for k, v in (err.get("ctx") or {}).items()}
    msg = template.format(**ctx) if template else err["msg"]
    return key, msg.removeprefix("Value error, "), got


_DRAW_TAGS = ("fixed", "set", "log_uniform")
# keys from before the PDE seam -> where the migration puts them (blame --set correctly)
_LEGACY_KEYS = {"data.nu": "data.equation.nu", "data.ic": "data.equation.ic"}
_LEGACY_KEYS["model.condition_nu"] = "model.condition"


def _format_error(
    source: str, exc: ValidationError, data: dict[str, Any], set_keys: set[str]
) -> str:
    for old, new in _LEGACY_KEYS.items():
        set_keys = set_keys | {new + k[len(old) :] for k in set_keys if _from_set(old, {k})}
    key, msg, got = _describe(exc.errors()[0], data, set_keys)
    where = "--set" if key and _from_set(key, set_keys) else source
    more = len(exc.errors()) - 1
    tail = f" [and {more} more]" if more else ""
    return f"{where}: {key}: {msg}{got}{tail}" if key else f"{where}: {msg}{tail}"


def _validate(data: dict[str, Any], source: str, set_keys: set[str], stored: bool) -> Config:
    try:
        return Config.model_validate(data, context={STORED: stored})
    except ValidationError as exc:
        raise ConfigError(_format_error(source, exc, data, set_keys)) from None


# Keys that size the data, in the order the memory error names them.
_SIZE_KEYS = ("nx", "nt", "n_train", "n_val", "n_test", "solver_nx", "downsample_x", "downsample_t")


def _check_memory(cfg: Config, source: str, set_keys: set[str]) -> None:
    """Refuse data that cannot fit in memory now, before anything is generated or read."""
    need, free = data_memory(cfg.data), available_memory()
    if need.total <= free:
        return
    d = cfg.data
    key = next((f"data.{k}" for k in _SIZE_KEYS if _from_set(f"data.{k}", set_keys)), None)
    where, got = ("--set", f" (got {getattr(d, key[5:])})") if key else (source, "")
    n = d.n_train + d.n_val + d.n_test
    nt, nx = (d.nt - 1) // d.downsample_t + 1, d.nx // d.downsample_x
    solver = f" + {gib(need.solver)} for the solver" if need.solver else ""
    raise ConfigError(
        f"{where}: {key or 'data'}: needs about {gib(need.total)} of memory "
        f"({n} trajectories x {nt} times x {nx} points x 4 bytes = {gib(need.stored)}{solver}) "
        f"but {gib(free)} are available{got}"
    )


# ---------------------------------------------------------------- entry points


def _plain(data: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(data, default=str))  # deep copy, plain types


def _legacy_key(key: str) -> str:
    """An override key from before the PDE seam, spelled as today (``data.nu`` ->
    ``data.equation.nu``, ``model.condition_nu`` -> ``model.condition``)."""
    for old, new in _LEGACY_KEYS.items():
        if key == old or key.startswith(f"{old}."):
            return new + key[len(old) :]
    return key


def _migrate_legacy(data: dict[str, Any]) -> None:
    """Move a file's ``data.nu`` / ``data.ic`` (Burgers, before ``data.equation``) into
    ``data.equation`` before overrides apply, so ``--set data.equation.nu`` wins over the
    file's ``data.nu``. A key the equation already has wins over the legacy one."""
    section = data.get("data")
    if not isinstance(section, dict) or not ({"nu", "ic"} & set(section)):
        return
    eq = section.get("equation")
    if eq is None:
        eq = section["equation"] = {}
    if not isinstance(eq, dict) or eq.get("name", "burgers") != "burgers":
        return  # DataConfig refuses the mix with a message naming both
    eq.setdefault("name", "burgers")
    for key in ("nu", "ic"):
        if key in section:
            eq.setdefault(key, section.pop(key))


def build_config(
    data: dict[str, Any],
    overrides: list[str] | None = None,
    source: str = "<config>",
    *,
    check_memory: bool = True,
) -> Config:
    """Validate a raw mapping (plus dotted overrides) into a ``Config``."""
    data = _plain(data)
    _migrate_legacy(data)
    parsed = {}
    for item in overrides or []:
        key, value = parse_override(item)
        parsed[_legacy_key(key)] = value
    _switch_architecture(data, parsed)
    for key, value in parsed.items():
        _apply_override(data, key, value)
    cfg = _validate(data, source, set(parsed), stored=False)
    if check_memory:
        _check_memory(cfg, source, set(parsed))
    return cfg


def load_config(
    path: str | Path, overrides: list[str] | None = None, *, check_memory: bool = True
) -> Config:
    """Load a YAML config (following ``include:``), apply overrides, validate."""
    path = Path(path)
    data = _load_with_includes(path)
    return build_config(data, overrides, source=str(path), check_memory=check_memory)


def dropped_sections(data: dict[str, Any]) -> list[str]:
    """Keys ``build_stored_config`` drops from a stored mapping: other architectures' sections."""
    model = data.get("model")
    if not isinstance(model, dict):
        return []
    foreign = foreign_sections(model.get("name", DEFAULT_MODEL))
    return [f"model.{k}" for k in model if k in foreign]


def build_stored_config(data: dict[str, Any], source: str) -> Config:
    """A config an earlier run stored (config.yaml artifact, checkpoint); see the module doc."""
    data = _plain(data)
    for key in dropped_sections(data):
        del data["model"][key.split(".", 1)[1]]
    return _validate(data, source, set(), stored=True)
