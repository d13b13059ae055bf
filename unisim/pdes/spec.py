"""The vocabulary of PDE specs: the spec base class, coefficient draws, coefficient ranges.

    from unisim.pdes.spec import Coefficient, Draw, Spec, check_draw_range, sample_draw
    NU = Coefficient("nu", 1e-3, 10.0, log=True)   # allowed range; log10 conditioning

    class MySpec(Spec):
        name: Literal["mine"] = "mine"
        nu: Draw = 0.01                            # 0.01, [0.001, 0.01] or {log_uniform: [a, b]}

        @field_validator("nu")
        @classmethod
        def _nu_range(cls, v: Draw) -> Draw:
            return check_draw_range(NU, v)

    sample_draw(np.random.default_rng(0), 8, MySpec().nu)   # (8,) float64

Draws, in YAML:

* ``nu: 0.01`` a fixed value (draws consume no random numbers: data made before
  coefficients could vary keeps its bytes);
* ``nu: [0.001, 0.01, 0.1, 1.0]`` a set, one member per trajectory, uniformly;
* ``nu: {log_uniform: [0.001, 1.0]}`` log10(nu) uniform in [log10 a, log10 b].

Conditioning: each coefficient maps its allowed range ``[low, high]`` affinely onto
[-1, 1], in log10 for coefficients that span decades (feature ``log10_nu``) and linearly
otherwise (feature ``rho``). Numpy is imported lazily.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Union

from pydantic import BaseModel, ConfigDict, Discriminator, Tag, field_validator

from unisim.errors import ConfigError

if TYPE_CHECKING:
    import numpy as np

KEY = "data.equation"  # where the spec lives in the config: errors name data.equation.<field>


class Spec(BaseModel):
    """Base of every PDE spec (and of its parts): frozen, unknown keys refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class LogUniform(Spec):
    """A coefficient drawn per trajectory with log10 of it uniform: ``{log_uniform: [a, b]}``."""

    log_uniform: tuple[float, float]

    @field_validator("log_uniform")
    @classmethod
    def _ordered(cls, v: tuple[float, float]) -> tuple[float, float]:
        if not (0 < v[0] <= v[1] and math.isfinite(v[1])):
            raise ValueError(f"log_uniform needs 0 < a <= b (got {list(v)})")
        return v


def _draw_kind(value: Any) -> str:
    """Which kind of draw a raw value is, so a bad value gets that kind's error only."""
    if isinstance(value, (dict, LogUniform)):
        return "log_uniform"
    if isinstance(value, (list, tuple)):
        return "set"
    return "fixed"


# float: fixed; tuple: a set drawn uniformly per trajectory; LogUniform: a range.
Draw = Annotated[
    Union[  # noqa: UP007 (pydantic reads it at runtime)
        Annotated[float, Tag("fixed")],
        Annotated[tuple[float, ...], Tag("set")],
        Annotated[LogUniform, Tag("log_uniform")],
    ],
    Discriminator(_draw_kind),
]


def draw_bounds(draw: Draw) -> tuple[float, float]:
    """Smallest and largest value a draw can produce."""
    if isinstance(draw, LogUniform):
        return draw.log_uniform
    if isinstance(draw, tuple):
        return min(draw), max(draw)
    return float(draw), float(draw)


def draw_label(name: str, draw: Draw) -> str:
    """File-name fragment: ``nu0.01`` (fixed), ``nu0.001-1.0set4``, ``nu0.001-1.0log``."""
    if isinstance(draw, LogUniform):
        return f"{name}{draw.log_uniform[0]}-{draw.log_uniform[1]}log"
    if isinstance(draw, tuple) and len(set(draw)) > 1:
        return f"{name}{min(draw)}-{max(draw)}set{len(draw)}"
    return f"{name}{float(draw_bounds(draw)[0])}"


def sample_draw(rng: np.random.Generator, n: int, draw: Draw) -> np.ndarray:
    """``n`` values of one coefficient: (n,) float64. A fixed value uses no random numbers."""
    import numpy as np

    if isinstance(draw, LogUniform):
        lo, hi = draw.log_uniform
        if lo == hi:
            return np.full(n, float(lo))
        return 10.0 ** rng.uniform(math.log10(lo), math.log10(hi), size=n)
    if isinstance(draw, tuple):
        values = np.asarray(draw, dtype=np.float64)
        if len(set(draw)) == 1:
            return np.full(n, values[0])
        return values[rng.integers(0, len(values), size=n)]
    return np.full(n, float(draw))


@dataclass(frozen=True)
class Coefficient:
    """A PDE coefficient: its allowed range and how it becomes a conditioning feature."""

    name: str  # the spec field, e.g. "nu"
    low: float  # allowed range, inclusive
    high: float
    log: bool  # conditioning on log10 (values spanning decades) or linear
    doc: str = ""

    @property
    def feature(self) -> str:
        """Name of the conditioning feature: ``log10_nu`` or ``rho``."""
        return f"log10_{self.name}" if self.log else self.name

    def normalise(self, values: np.ndarray) -> np.ndarray:
        """Affine map of the allowed range onto [-1, 1] (in log10 when ``log``)."""
        import numpy as np

        if self.log:
            lo, hi, v = math.log10(self.low), math.log10(self.high), np.log10(values)
        else:
            lo, hi, v = self.low, self.high, np.asarray(values, dtype=np.float64)
        return 2.0 * (v - lo) / (hi - lo) - 1.0

    def check(self, value: float, key: str | None = None) -> None:
        """ConfigError naming the key unless ``low <= value <= high``."""
        if not (math.isfinite(value) and self.low <= value <= self.high):
            raise ConfigError(
                f"{key or f'{KEY}.{self.name}'}={value:g} is outside the allowed range "
                f"[{self.low:g}, {self.high:g}]"
            )


def check_draw_range(coefficient: Coefficient, draw: Draw) -> Draw:
    """For a spec's field validator: every value the draw can produce is allowed."""
    for value in draw_bounds(draw):
        if not (math.isfinite(value) and coefficient.low <= value <= coefficient.high):
            raise ValueError(
                f"{value:g} is outside the allowed range [{coefficient.low:g}, "
                f"{coefficient.high:g}] of {coefficient.name}"
            )
    if isinstance(draw, tuple) and not draw:
        raise ValueError(f"{coefficient.name}: an empty set of values")
    return draw
