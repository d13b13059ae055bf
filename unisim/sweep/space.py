"""Search spaces: a YAML file of dotted config keys and their distributions, checked at load.

    space = load_space("configs/sweeps/latent.yaml", "configs/train_burgers_golden.yaml")
    space.params["training.lr"]          # FloatParam(low=..., high=..., log=True)
    overrides = space.suggest(trial)     # ["training.lr=0.0012", ...] for load_config

A space file:

    sampler: {seed: 0, n_startup_trials: 8}         # TPE (optional)
    pruner: {name: median, n_startup_trials: 4, n_warmup_steps: 2}   # or hyperband, asha, none
    params:
      training.lr: {type: float, low: 3.0e-4, high: 5.0e-3, log: true}
      model.latent.dim: {type: int, low: 8, high: 32, step: 8}
      model.latent.processor: {type: categorical, choices: [fno, mlp]}

Everything is checked before any trial runs (``ConfigError``, exit 2, one line naming
the file, the key and the value): the space file's own shape, that each key is a leaf of
the config (``flatten``), that a range is not empty, and that the config accepts both
ends of a range and every choice (each built with the others at the config's values).
Combinations can still be refused (``tokens`` must divide ``nx``); such a trial fails
with the reason and the sampler moves on. No optuna or torch at import.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationError

from unisim.errors import ConfigError

Scalar = Union[bool, int, float, str, None]  # noqa: UP007 (pydantic union of YAML scalars)


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FloatParam(_Spec):
    type: Literal["float"] = "float"
    low: float
    high: float
    log: bool = False
    step: float | None = Field(None, gt=0)

    def values(self) -> list[Any]:
        return [self.low, self.high]

    def empty(self) -> bool:
        return not self.low < self.high


class IntParam(_Spec):
    type: Literal["int"] = "int"
    low: int
    high: int
    log: bool = False
    step: int = Field(1, ge=1)

    def values(self) -> list[Any]:
        return [self.low, self.high]

    def empty(self) -> bool:
        return self.low > self.high


class CategoricalParam(_Spec):
    type: Literal["categorical"] = "categorical"
    choices: list[Scalar]

    def values(self) -> list[Any]:
        return list(self.choices)

    def empty(self) -> bool:
        return not self.choices


Param = Annotated[
    Union[  # noqa: UP007
        Annotated[FloatParam, Tag("float")],
        Annotated[IntParam, Tag("int")],
        Annotated[CategoricalParam, Tag("categorical")],
    ],
    Discriminator(lambda v: v.get("type") if isinstance(v, dict) else getattr(v, "type", None)),
]


class SamplerSpec(_Spec):
    name: Literal["tpe"] = "tpe"
    seed: int = 0
    n_startup_trials: int = Field(8, ge=0)


class PrunerSpec(_Spec):
    name: Literal["median", "hyperband", "asha", "none"] = "median"
    n_startup_trials: int = Field(4, ge=0)  # median: trials finished before it prunes
    n_warmup_steps: int = Field(1, ge=0)  # median: epochs before it prunes a trial
    min_resource: int = Field(1, ge=1)  # hyperband, asha: epochs of the first rung
    reduction_factor: int = Field(3, ge=2)  # hyperband, asha: 1 in this many goes on


PRUNERS: tuple[str, ...] = get_args(PrunerSpec.model_fields["name"].annotation)


class SearchSpace(_Spec):
    params: dict[str, Param]
    sampler: SamplerSpec = SamplerSpec()
    pruner: PrunerSpec = PrunerSpec()
    path: str = ""  # where it was read from (messages, artifacts)

    def suggest(self, trial: Any) -> list[str]:
        """Sample every param on an optuna trial; ``KEY=VALUE`` overrides for load_config."""
        out = []
        for key, p in self.params.items():
            if isinstance(p, FloatParam):
                value: Any = trial.suggest_float(key, p.low, p.high, log=p.log, step=p.step)
            elif isinstance(p, IntParam):
                value = trial.suggest_int(key, p.low, p.high, log=p.log, step=p.step)
            else:
                value = trial.suggest_categorical(key, p.choices)
            out.append(override(key, value))
        return out

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude={"path"})


def override(key: str, value: Any) -> str:
    """``key=value`` with the value as YAML (JSON is YAML): strings stay strings."""
    return f"{key}={json.dumps(value)}"


def overrides_of(params: dict[str, Any]) -> list[str]:
    """A finished trial's params as ``--set`` overrides (the best config)."""
    return [override(k, v) for k, v in params.items()]


def _leaves(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(_leaves(value, f"{name}."))
        else:
            out[name] = value
    return out


def _shape_error(path: Path, exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = [str(p) for p in err["loc"]]
    if len(loc) >= 3 and loc[0] == "params" and loc[2] in ("float", "int", "categorical"):
        del loc[2]  # the union's tag
    key = ".".join(loc[:1]) + (f".{loc[1]}" if len(loc) > 1 else "")
    key = key if len(loc) < 3 else f"{key}: {'.'.join(loc[2:])}"
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = "unknown key"
    elif err["type"] == "union_tag_invalid" or err["type"] == "union_tag_not_found":
        msg = "type must be float, int or categorical"
    got = f" (got {err['input']!r})" if err["type"] != "missing" else ""
    return f"{path}: {key}: {msg}{got}"


def load_space(
    path: str | Path, config: str | Path, overrides: list[str] | None = None
) -> SearchSpace:
    """Read and check a space file against ``config`` (+ ``overrides``); see the module doc."""
    from unisim.config import load_config
    from unisim.config.loader import _read_yaml

    path = Path(path)
    raw = _read_yaml(path)
    if not isinstance(raw.get("params"), dict) or not raw["params"]:
        raise ConfigError(f"{path}: params: needs at least one config key and its distribution")
    try:
        space = SearchSpace.model_validate({**raw, "path": str(path)})
    except ValidationError as exc:
        raise ConfigError(_shape_error(path, exc)) from None
    base = load_config(config, overrides)
    leaves = _leaves(base.model_dump(mode="json"))
    for key, p in space.params.items():
        where = f"{path}: params.{key}"
        if key not in leaves:
            got = json.dumps(p.model_dump(mode="json"))
            raise ConfigError(f"{where}: unknown config key (not in {config}; got {got})")
        if isinstance(leaves[key], dict):
            raise ConfigError(f"{where}: a config section, not a key")
        if p.empty():
            got = p.choices if isinstance(p, CategoricalParam) else f"[{p.low}, {p.high}]"
            raise ConfigError(f"{where}: empty range (got {got})")
        if isinstance(p, (FloatParam, IntParam)):
            current = leaves[key]
            if isinstance(current, (str, bool)):
                raise ConfigError(
                    f"{where}: wrong type: {p.type} range for a {type(current).__name__} key "
                    f"(got low={p.low}, high={p.high})"
                )
            if p.log and p.low <= 0:
                raise ConfigError(f"{where}: a log range needs low > 0 (got {p.low})")
        for value in p.values():
            try:
                load_config(config, [*(overrides or []), override(key, value)])
            except ConfigError as exc:
                why = str(exc).split(": ", 2)[-1]
                raise ConfigError(
                    f"{where}: value {value!r} refused by the config: {why}"
                ) from None
    return space
