"""The sections of the config tree; the ``model`` section is a union over the architectures.

    from unisim.config.schema import Config, DataConfig, MODEL_NAMES
    cfg = Config.model_validate({"model": {"name": "fno", "fno": {"modes": 12}}})
    cfg.model                     # FNOModelConfig(name='fno', context=1, ..., fno=FNOConfig(...))

Load configs with ``unisim.config.load_config`` (files, ``include:``, ``--set``, error
lines) rather than validating here. Each section is a frozen pydantic model with
``extra="forbid"``. ``model`` is a discriminated union on ``model.name`` whose members
are the ``ModelSpec`` subclasses in ``unisim/models/*.py`` (found by
``unisim.models.load_architectures`` when this module is imported); a config without
``model.name`` gets ``unisim.models.DEFAULT_MODEL``. This module imports neither torch
nor mlflow.
"""

from __future__ import annotations

import difflib
from typing import Annotated, Any, Literal, Union

from pydantic import Discriminator, Field, Tag, ValidationInfo, field_validator, model_validator

from unisim.config.base import STORED, CrossFieldError, ModelSpec, Section
from unisim.evaluation.names import KNOWN_METRICS
from unisim.models import DEFAULT_MODEL, load_architectures
from unisim.pdes import PDE, BurgersSpec, EquationSpec, get_pde
from unisim.pdes.spec import Draw

MODEL_SPECS = load_architectures()  # {name: ModelSpec subclass}, the default first
MODEL_NAMES = tuple(MODEL_SPECS)


class InitialConditionConfig(Section):
    """PDEBench ``init_multi``: sum of sinusoids, optional |.|, sign flip, tanh window."""

    k_tot: int = Field(4, ge=1)  # candidate wavenumbers 1..k_tot
    num_choose_k: int = Field(2, ge=1)  # how many of them are active
    p_abs: float = Field(0.1, ge=0, le=1)  # probability of taking |u|
    p_window: float = Field(0.1, ge=0, le=1)  # probability of a tanh window


class DataConfig(Section):
    source: Literal["generate", "pdebench"] = "generate"
    path: str | None = None  # a PDEBench file of the equation's family when source=pdebench
    # The PDE, its coefficients (fixed, a set or a log-uniform range drawn per trajectory),
    # initial conditions and solver settings: a union over unisim/pdes/ on `name`.
    equation: EquationSpec = BurgersSpec()
    nx: int = Field(128, ge=8)  # stored grid points on [0, 1)
    nt: int = Field(41, ge=2)  # stored time points on [0, t_final], t=0 included
    t_final: float = Field(2.0, gt=0, allow_inf_nan=False)
    solver_nx: int = Field(1024, ge=8)  # fine solver grid, a multiple of nx
    n_train: int = Field(256, ge=1)
    n_val: int = Field(32, ge=1)
    n_test: int = Field(64, ge=1)
    # A fixed held-out set from its own seed stream, in its own file, generated only when
    # asked for (`unisim evaluate --split heldout`), never read for any choice. 128: enough
    # for a bootstrap interval, and it costs nothing until used. Not part of the data hash.
    n_heldout: int = Field(128, ge=0)
    # Coefficient draws for the held-out split only, e.g. {nu: {log_uniform: [0.005, 0.02]}}
    # for a model trained on a set of viscosities: values inside the range, not in training.
    heldout_coefficients: dict[str, Draw] = {}
    seed: int = 0  # data seed, independent of the training seed
    cache_dir: str = "data/cache"
    downsample_x: int = Field(1, ge=1)  # PDEBench baselines: 4 (when reading their files)
    downsample_t: int = Field(1, ge=1)  # PDEBench baselines: 5

    @model_validator(mode="before")
    @classmethod
    def _migrate(cls, data: Any) -> Any:
        """Configs from before ``data.equation``: ``data.nu`` and ``data.ic`` were Burgers'.
        An equation without ``name`` is the default one, Burgers (``--set data.equation.nu``)."""
        if not isinstance(data, dict):
            return data
        eq = data.get("equation")
        if isinstance(eq, dict) and "name" not in eq:
            data = {**data, "equation": {"name": "burgers", **eq}}
        if not ({"nu", "ic"} & set(data)):
            return data
        data = dict(data)
        equation = data.get("equation") or {}
        equation = dict(equation) if isinstance(equation, dict) else equation.model_dump()
        name = equation.setdefault("name", "burgers")
        if name != "burgers":
            keys = " and ".join(f"data.{k}" for k in ("nu", "ic") if k in data)
            raise CrossFieldError(
                f"{keys} belong to Burgers (the old spelling of data.equation.nu / .ic), but "
                f"data.equation.name is {name!r}: set data.equation.<coefficient> instead",
                "equation",
            )
        for key in ("nu", "ic"):
            if key in data:
                value = data.pop(key)  # the old InitialConditionConfig is a plain section
                equation[key] = value.model_dump() if hasattr(value, "model_dump") else value
        data["equation"] = equation
        return data

    @property
    def pde(self) -> PDE:
        return get_pde(self.equation.name)

    @property
    def nu(self) -> float | None:
        """Burgers' viscosity when it is one fixed value (callers from before the seam)."""
        value = getattr(self.equation, "nu", None)
        is_fixed = self.equation.name == "burgers" and isinstance(value, (int, float))
        return float(value) if is_fixed else None

    @property
    def heldout_spec(self) -> Any:
        """The equation spec the held-out split is drawn from."""
        if not self.heldout_coefficients:
            return self.equation
        return self.equation.model_copy(update=self.heldout_coefficients)

    @model_validator(mode="after")
    def _check(self) -> DataConfig:
        if self.source == "generate" and self.solver_nx % self.nx:
            raise CrossFieldError(
                "solver_nx must be a multiple of nx "
                f"(got solver_nx={self.solver_nx}, nx={self.nx})",
                "solver_nx",
                "nx",
            )
        if self.source == "generate" and self.solver_nx % 2:
            raise CrossFieldError(
                f"solver_nx must be even for the FFT solver (got {self.solver_nx})", "solver_nx"
            )
        if self.heldout_coefficients:
            known = self.pde.coefficient_names
            for key in self.heldout_coefficients:
                if key not in known:
                    raise CrossFieldError(
                        f"{key!r} is not a coefficient of {self.pde.name} "
                        f"(one of {', '.join(known)})",
                        f"heldout_coefficients.{key}",
                    )
            try:  # the spec's own range checks
                type(self.equation).model_validate(
                    {**self.equation.model_dump(), **self.heldout_coefficients}
                )
            except ValueError as exc:
                first = exc.errors()[0]["msg"] if hasattr(exc, "errors") else str(exc)
                raise CrossFieldError(first, "heldout_coefficients") from None
        if self.nx % self.downsample_x:
            raise CrossFieldError(
                f"downsample_x must divide nx so the periodic grid stays uniform "
                f"(got downsample_x={self.downsample_x}, nx={self.nx})",
                "downsample_x",
                "nx",
            )
        if self.source == "pdebench" and not self.path:
            raise CrossFieldError(
                f"source=pdebench needs data.path (a {self._pdebench_glob()} file)",
                "path",
                "source",
            )
        return self

    def _pdebench_glob(self) -> str:
        naming = self.pde.pdebench
        return naming.glob if naming is not None else "PDEBench HDF5"


def _model_name(value: Any) -> Any:
    """The union's tag: ``name`` of a mapping (the default when absent) or of a spec."""
    if isinstance(value, dict):
        return value.get("name", DEFAULT_MODEL)
    return getattr(value, "name", None)


# One member per architecture, chosen by model.name; a section of another architecture is
# an unknown key of the chosen member (the loader names it as such).
ModelConfig = Annotated[
    Union[tuple(Annotated[spec, Tag(name)] for name, spec in MODEL_SPECS.items())],  # noqa: UP007
    Discriminator(_model_name),
]


class TrainingConfig(Section):
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
    # CPU threads per process (torch.set_num_threads) for training and evaluation; None:
    # OMP_NUM_THREADS, else the physical cores available, split between DDP ranks
    # (unisim/training/threads.py). Not part of the config hash.
    threads: int | None = Field(None, ge=1)


class EvaluationConfig(Section):
    batch_size: int = Field(64, ge=1)  # trajectories per forward pass
    fast_stride: int = Field(1, ge=1)  # fast stage uses every k-th val trajectory
    fast_max_samples: int | None = Field(None, ge=1)
    plot_trajectories: int = Field(3, ge=0)  # space-time heatmaps for the first k trajectories
    plot_snapshots: int = Field(4, ge=1)  # times overlaid in the snapshot plots
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"


class GateConfig(Section):
    """One metric gate; field names follow MLflow's ``MetricThreshold``."""

    metric: str
    greater_is_better: bool = False
    threshold: float | None = None  # absolute limit
    min_absolute_change: float | None = Field(None, ge=0)  # vs champion
    min_relative_change: float | None = Field(None, ge=0, le=1)  # vs champion, fraction
    stages: tuple[Literal["fast", "full"], ...] = ("fast", "full")
    # Compare with the champion on the same trajectories and call it better only beyond
    # noise: the change checks hold for the whole interval of the paired difference.
    paired: Literal["bootstrap", "wilcoxon"] | None = None
    level: float = Field(0.95, gt=0.5, lt=1)  # confidence level of the paired test

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, value: str, info: ValidationInfo) -> str:
        # A typo would otherwise surface only after training, when evaluation looks it up.
        # Stored configs are records: a metric renamed since then must not lock them out
        # (evaluation still refuses it).
        if value in KNOWN_METRICS or (info.context or {}).get(STORED):
            return value
        close = difflib.get_close_matches(value, KNOWN_METRICS, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"known: {', '.join(KNOWN_METRICS)}"
        raise ValueError(f"unknown metric {value!r} ({hint})")

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
        if self.paired is not None:
            if self.metric != "final_nrmse":  # the per-trajectory errors are rollout nRMSEs
                raise CrossFieldError(
                    f"paired={self.paired!r} compares per-trajectory final_nrmse only "
                    f"(got metric {self.metric!r})",
                    "paired",
                )
            if self.min_absolute_change is None and self.min_relative_change is None:
                raise CrossFieldError(
                    "paired needs a champion check: min_absolute_change or min_relative_change",
                    "paired",
                )
        return self


class PhysicsGatesConfig(Section):
    max_conservation_gap: float | None = Field(0.05, ge=0)  # mean drift / RMS of u
    max_energy_violation: float | None = Field(0.05, ge=0)  # relative energy increase
    allow_nonfinite: bool = False


class GatesConfig(Section):
    metrics: tuple[GateConfig, ...] = ()
    physics: PhysicsGatesConfig = PhysicsGatesConfig()


class TrackingConfig(Section):
    experiment: str = "burgers"  # MLflow experiment for configs outside experiments/
    run_name: str | None = None
    tags: dict[str, str] = {}


class RegistryConfig(Section):
    model_name: str = "burgers-surrogate"


class VastConfig(Section):
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


class Config(Section):
    name: str = "burgers"
    description: str = ""
    seed: int = 0
    # `unisim run` trains one model per seed and reports the mean with an interval; not
    # part of the config hash (each seed's train run is the config with that `seed`).
    seeds: tuple[int, ...] = ()
    data: DataConfig = DataConfig()
    model: ModelConfig = MODEL_SPECS[DEFAULT_MODEL]()
    training: TrainingConfig = TrainingConfig()
    evaluation: EvaluationConfig = EvaluationConfig()
    gates: GatesConfig = GatesConfig()
    tracking: TrackingConfig = TrackingConfig()
    registry: RegistryConfig = RegistryConfig()
    vast: VastConfig = VastConfig()

    @model_validator(mode="after")
    def _check(self) -> Config:
        nx = self.data.nx // self.data.downsample_x  # the grid the model sees
        nt = (self.data.nt - 1) // self.data.downsample_t + 1
        self.model.check_grid(nx, nt)
        if self.model.context >= nt:
            raise CrossFieldError(
                f"model.context={self.model.context} leaves no step to predict (data.nt={nt})",
                "model.context",
                "data.nt",
                "data.downsample_t",
            )
        return self


def foreign_sections(name: str) -> frozenset[str]:
    """Keys of ``model:`` that belong to architectures other than ``name``."""
    spec = MODEL_SPECS.get(name)
    own = set(spec.sections()) if spec is not None else set()
    return frozenset(s for other in MODEL_SPECS.values() for s in other.sections()) - own


__all__ = [
    "MODEL_NAMES",
    "MODEL_SPECS",
    "Config",
    "DataConfig",
    "EvaluationConfig",
    "GateConfig",
    "GatesConfig",
    "InitialConditionConfig",
    "ModelConfig",
    "ModelSpec",
    "PhysicsGatesConfig",
    "RegistryConfig",
    "TrackingConfig",
    "TrainingConfig",
    "VastConfig",
    "foreign_sections",
]
