"""The typed config tree: defaults -> YAML (with ``include:``) -> ``key=value`` overrides.

    cfg = load_config("configs/train_burgers_golden.yaml", ["training.lr=3e-4"])
    to_yaml(cfg); flatten(cfg); config_hash(cfg)

Every section is a frozen pydantic model with ``extra="forbid"``, so an unknown
key or a wrong type fails at load with one line naming file, dotted key and value.
This module imports neither torch nor mlflow.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from unisim.errors import ConfigError

MODEL_NAMES = ("latent", "fno", "persistence")
PARAM_VALUE_LIMIT = 6000  # MLflow refuses longer param values


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class InitialConditionConfig(_Section):
    """PDEBench ``init_multi``: sum of sinusoids, optional |.|, sign flip, tanh window."""

    k_tot: int = Field(4, ge=1)  # candidate wavenumbers 1..k_tot
    num_choose_k: int = Field(2, ge=1)  # how many of them are active
    p_abs: float = Field(0.1, ge=0, le=1)  # probability of taking |u|
    p_window: float = Field(0.1, ge=0, le=1)  # probability of a tanh window


class DataConfig(_Section):
    source: Literal["generate", "pdebench"] = "generate"
    path: str | None = None  # a PDEBench 1D_Burgers_Sols_Nu*.hdf5 file when source=pdebench
    nu: float = Field(0.01, gt=0, allow_inf_nan=False)  # diffusion coefficient is nu/pi
    nx: int = Field(128, ge=8)  # stored grid points on [0, 1)
    nt: int = Field(41, ge=2)  # stored time points on [0, t_final], t=0 included
    t_final: float = Field(2.0, gt=0, allow_inf_nan=False)
    solver_nx: int = Field(1024, ge=8)  # fine solver grid, a multiple of nx
    n_train: int = Field(256, ge=1)
    n_val: int = Field(32, ge=1)
    n_test: int = Field(64, ge=1)
    seed: int = 0  # data seed, independent of the training seed
    ic: InitialConditionConfig = InitialConditionConfig()
    cache_dir: str = "data/cache"
    downsample_x: int = Field(1, ge=1)  # PDEBench baselines: 4 (when reading their files)
    downsample_t: int = Field(1, ge=1)  # PDEBench baselines: 5

    @model_validator(mode="after")
    def _check(self) -> DataConfig:
        if self.source == "generate" and self.solver_nx % self.nx:
            raise ValueError(
                f"solver_nx must be a multiple of nx (got solver_nx={self.solver_nx}, nx={self.nx})"
            )
        if self.source == "generate" and self.solver_nx % 2:
            raise ValueError(f"solver_nx must be even for the FFT solver (got {self.solver_nx})")
        if self.nx % self.downsample_x:
            raise ValueError(
                f"downsample_x must divide nx so the periodic grid stays uniform "
                f"(got downsample_x={self.downsample_x}, nx={self.nx})"
            )
        if self.source == "pdebench" and not self.path:
            raise ValueError("source=pdebench needs data.path (a 1D_Burgers_Sols_Nu*.hdf5 file)")
        return self


class LatentConfig(_Section):
    dim: int = Field(16, ge=1)  # channels per latent token
    tokens: int = Field(32, ge=1)  # latent tokens; must divide data.nx
    processor: Literal["transformer", "fno", "mlp"] = "transformer"
    layers: int = Field(2, ge=1)
    heads: int = Field(4, ge=1)  # transformer only
    hidden: int = Field(64, ge=1)  # encoder/decoder conv width (runs on the full grid: costly)
    ffn: int | None = Field(None, ge=1)  # processor feed-forward width (on tokens); None = hidden
    width: int | None = Field(None, ge=1)  # fno/transformer channels per token; None = dim


class FNOConfig(_Section):
    modes: int = Field(16, ge=1)
    width: int = Field(48, ge=1)
    layers: int = Field(4, ge=1)


class ModelConfig(_Section):
    name: Literal["latent", "fno", "persistence"] = "latent"
    context: int = Field(1, ge=1)  # input time steps
    condition_nu: bool = True  # feed log10(nu) to the model (matters when data mixes viscosities)
    latent: LatentConfig = LatentConfig()
    fno: FNOConfig = FNOConfig()


class TrainingConfig(_Section):
    epochs: int = Field(20, ge=1)
    batch_size: int = Field(32, ge=1)
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(1e-4, ge=0)
    schedule: Literal["cosine", "onecycle", "constant"] = "cosine"
    grad_clip: float | None = Field(1.0, gt=0)
    ema_decay: float | None = Field(None, gt=0, lt=1)
    rollout_steps: int = Field(4, ge=1)  # unrolled steps in the multi-step loss
    # full: backprop through every unrolled step; pushforward: only through the last one
    # (earlier steps run without gradient, Brandstetter et al. 2022)
    rollout_grad: Literal["full", "pushforward"] = "full"
    loss_one_step: float = Field(1.0, ge=0)
    loss_rollout: float = Field(1.0, ge=0)
    loss_recon: float = Field(0.1, ge=0)
    early_stopping_patience: int | None = Field(None, ge=1)
    checkpoint_every: int = Field(5, ge=1)  # epochs
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    amp: bool = True  # bf16 autocast where the device supports it
    compile: bool = False  # torch.compile where the device supports it
    max_time_s: float | None = Field(None, gt=0)  # stop after this wall time (fair budgets)


class EvaluationConfig(_Section):
    batch_size: int = Field(64, ge=1)  # trajectories per forward pass
    fast_stride: int = Field(1, ge=1)  # fast stage uses every k-th val trajectory
    fast_max_samples: int | None = Field(None, ge=1)
    plot_trajectories: int = Field(3, ge=0)  # space-time heatmaps for the first k trajectories
    plot_snapshots: int = Field(4, ge=1)  # times overlaid in the snapshot plots
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"


class GateConfig(_Section):
    """One metric gate; field names follow MLflow's ``MetricThreshold``."""

    metric: str
    greater_is_better: bool = False
    threshold: float | None = None  # absolute limit
    min_absolute_change: float | None = Field(None, ge=0)  # vs champion
    min_relative_change: float | None = Field(None, ge=0, le=1)  # vs champion, fraction
    stages: tuple[Literal["fast", "full"], ...] = ("fast", "full")

    @model_validator(mode="after")
    def _check(self) -> GateConfig:
        if (
            self.threshold is None
            and self.min_absolute_change is None
            and self.min_relative_change is None
        ):
            raise ValueError(
                f"gate {self.metric!r} needs threshold, min_absolute_change or min_relative_change"
            )
        return self


class PhysicsGatesConfig(_Section):
    max_conservation_gap: float | None = Field(0.05, ge=0)  # mean drift / RMS of u
    max_energy_violation: float | None = Field(0.05, ge=0)  # relative energy increase
    allow_nonfinite: bool = False


class GatesConfig(_Section):
    metrics: tuple[GateConfig, ...] = ()
    physics: PhysicsGatesConfig = PhysicsGatesConfig()


class TrackingConfig(_Section):
    experiment: str = "burgers"  # MLflow experiment for configs outside experiments/
    run_name: str | None = None
    tags: dict[str, str] = {}


class RegistryConfig(_Section):
    model_name: str = "burgers-surrogate"


class VastConfig(_Section):
    """Rented GPUs (``unisim vast``): offer search, instance shape, shutdown policy."""

    query: str = "gpu_name=RTX_4090 num_gpus=1 reliability>0.98 dph<1.0"  # vastai search syntax
    order: str = "dph"  # sort field; a trailing '-' sorts descending
    image: str = "pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime"
    disk_gb: int = Field(40, ge=8)
    max_hours: float = Field(4.0, gt=0)  # watchdog: the instance shuts down after this
    auto_shutdown: Literal["stop", "destroy", "none"] = "destroy"  # when the job ends
    repo_url: str | None = None  # default: `git remote get-url origin`
    env_keys: tuple[str, ...] = ()  # more local env vars to pass (besides MLFLOW_TRACKING_*)
    start_timeout_s: float = Field(900.0, gt=0)  # give up (and destroy) if not running by then
    poll_s: float = Field(10.0, gt=0)  # status and log polling interval


class Config(_Section):
    name: str = "burgers"
    description: str = ""
    seed: int = 0
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    training: TrainingConfig = TrainingConfig()
    evaluation: EvaluationConfig = EvaluationConfig()
    gates: GatesConfig = GatesConfig()
    tracking: TrackingConfig = TrackingConfig()
    registry: RegistryConfig = RegistryConfig()
    vast: VastConfig = VastConfig()

    @model_validator(mode="after")
    def _check(self) -> Config:
        nx = self.data.nx // self.data.downsample_x
        if self.model.name == "latent" and nx % self.model.latent.tokens:
            raise ValueError(
                f"model.latent.tokens={self.model.latent.tokens} must divide the grid "
                f"(data.nx={nx} after downsampling)"
            )
        lat = self.model.latent
        width_key, width = ("width", lat.width) if lat.width else ("dim", lat.dim)
        if self.model.name == "latent" and lat.processor == "transformer" and width % lat.heads:
            raise ValueError(
                f"model.latent.heads={lat.heads} must divide model.latent.{width_key}={width}"
            )
        if self.model.name == "fno" and self.model.fno.modes > nx // 2 + 1:
            raise ValueError(f"model.fno.modes={self.model.fno.modes} exceeds nx/2+1={nx // 2 + 1}")
        nt = (self.data.nt - 1) // self.data.downsample_t + 1
        if self.model.context >= nt:
            raise ValueError(
                f"model.context={self.model.context} leaves no step to predict (data.nt={nt})"
            )
        return self


# ---------------------------------------------------------------- loading


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"{path}: file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
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
    base = _load_with_includes(path.parent / include, (*seen, resolved))
    return _deep_merge(base, data)


_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


def parse_override(item: str) -> tuple[str, Any]:
    """``"training.lr=3e-4"`` -> ``("training.lr", 0.0003)``; the value is parsed as YAML."""
    key, sep, raw = item.partition("=")
    key = key.strip()
    if not sep or not _KEY_RE.match(key):
        raise ConfigError(f"--set {item!r}: expected KEY=VALUE with a dotted key")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
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


def _format_error(source: str, exc: ValidationError, overrides: dict[str, Any]) -> str:
    err = exc.errors()[0]
    key = ".".join(str(p) for p in err["loc"])
    template = _MESSAGES.get(err["type"])
    ctx = {k: _num(v) for k, v in err.get("ctx", {}).items()}
    msg = template.format(**ctx) if template else err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    where = "--set" if key in overrides else source
    got = f" (got {err['input']!r})" if err["type"] != "missing" and key else ""
    more = len(exc.errors()) - 1
    tail = f" [and {more} more]" if more else ""
    return f"{where}: {key}: {msg}{got}{tail}" if key else f"{where}: {msg}{tail}"


def build_config(
    data: dict[str, Any], overrides: list[str] | None = None, source: str = "<config>"
) -> Config:
    """Validate a raw mapping (plus dotted overrides) into a ``Config``."""
    data = json.loads(json.dumps(data, default=str))  # deep copy, plain types
    parsed = dict(parse_override(item) for item in overrides or [])
    for key, value in parsed.items():
        _apply_override(data, key, value)
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_format_error(source, exc, parsed)) from None


def load_config(path: str | Path, overrides: list[str] | None = None) -> Config:
    """Load a YAML config (following ``include:``), apply overrides, validate."""
    path = Path(path)
    return build_config(_load_with_includes(path), overrides, source=str(path))


# ---------------------------------------------------------------- exports


def to_dict(cfg: Config) -> dict[str, Any]:
    return cfg.model_dump(mode="json")


def to_yaml(cfg: Config) -> str:
    return yaml.safe_dump(to_dict(cfg), sort_keys=False)


def flatten(cfg: Config | dict[str, Any], prefix: str = "") -> dict[str, str]:
    """Dotted keys -> string values, for MLflow params (``model.latent.dim -> "16"``)."""
    data = to_dict(cfg) if isinstance(cfg, Config) else cfg
    out: dict[str, str] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            out.update(flatten(value, prefix=f"{name}."))
            continue
        text = value if isinstance(value, str) else json.dumps(value)
        if len(text) > PARAM_VALUE_LIMIT:
            digest = hashlib.sha256(text.encode()).hexdigest()[:12]
            text = f"{text[: PARAM_VALUE_LIMIT - 40]}...[truncated sha256:{digest}]"
        out[name] = text
    return out


def content_hash(obj: Any) -> str:
    """Stable 16-hex-char hash of a JSON-serialisable object."""
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


# Sections that decide the trained weights. Evaluation, gates, tracking, registry
# and vast settings do not, so changing a gate does not force a retrain.
HASHED_SECTIONS = ("seed", "data", "model", "training")


def config_hash(cfg: Config) -> str:
    """Stable content hash of what determines the trained model (16 hex chars)."""
    data = to_dict(cfg)
    return content_hash({k: data[k] for k in HASHED_SECTIONS})


def data_config_hash(data: DataConfig) -> str:
    """Hash of the data section without settings that do not change the bytes."""
    return content_hash(data.model_dump(mode="json", exclude={"cache_dir"}))


def json_schema() -> dict[str, Any]:
    return Config.model_json_schema()


def experiment_name(config_path: str | Path | None, cfg: Config) -> str:
    """``experiments/NAME/config.yaml`` -> ``NAME``; anything else -> ``tracking.experiment``."""
    if config_path is not None:
        path = Path(config_path).resolve()
        if path.parent.parent.name in ("experiments", "experiments-archive"):
            return path.parent.name
    return cfg.tracking.experiment
