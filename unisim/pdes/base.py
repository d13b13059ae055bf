"""The PDE seam: what every PDE family provides, and the parts they share.

    import numpy as np
    from unisim.pdes import Grid, get_pde
    pde = get_pde("burgers")
    spec = pde.spec_type(nu=[0.01, 0.1, 1.0])            # a set, drawn per trajectory
    grid = Grid(nx=128, solver_nx=1024, nt=41, t_final=2.0)
    rng = np.random.default_rng(0)
    u0 = pde.initial_conditions(rng, 8, grid, spec)        # (8, 1024) float64 on grid.x_solver
    coeffs = pde.draw_coefficients(rng, 8, spec)           # (8, 1) float64: nu per trajectory
    pde.check_grid(grid.nx, grid.solver_nx, coeffs, spec, u0)   # ConfigError if too coarse
    u = pde.solve(u0, coeffs, grid, spec)                  # (8, 41, 128) float32
    pde.conditioning(coeffs)                               # (8, 1) float32 in [-1, 1]

A PDE is a stateless object (thread-safe: the data store solves batches on a thread pool)
whose methods take the spec (a frozen pydantic model, the ``data.equation`` section) as an
argument. Coefficients travel as an ``(N, C)`` float64 array, one row per trajectory, one
column per entry of ``pde.coefficients``.

Coefficient draws and ranges are in ``spec.py``. Numpy is imported lazily: importing a
spec (as the config does) costs only pydantic.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any, ClassVar

from unisim.errors import ConfigError
from unisim.pdes.spec import (
    KEY,
    Coefficient,
    Draw,
    LogUniform,
    Spec,
    check_draw_range,
    draw_bounds,
    draw_label,
    sample_draw,
)

if TYPE_CHECKING:
    from pathlib import Path

    import numpy as np

    from unisim.pdes.initial import InitialConditions
    from unisim.pdes.pdebench import PDEBenchData, PDEBenchNaming

__all__ = [  # the spec vocabulary is re-exported: families import the seam from one place
    "KEY",
    "PDE",
    "Coefficient",
    "Draw",
    "Grid",
    "Invariant",
    "LogUniform",
    "ReferenceCase",
    "Spec",
    "check_draw_range",
    "check_sizes",
    "draw_bounds",
    "draw_label",
    "sample_draw",
]

MIN_SOLVER_NX = 8


class Invariant(str, Enum):
    """Physics a gate may check on a surrogate's rollout (periodic domain)."""

    MEAN = "mean_conserved"  # d/dt of the spatial mean of u is 0
    ENERGY = "energy_nonincreasing"  # mean_x u^2 never grows


@dataclass(frozen=True)
class Grid:
    """The stored grid (``nx`` cell centres on [0, 1), ``nt`` times on [0, t_final]) and the
    solver grid it is cut from (``solver_nx`` points; the stored points are every
    ``stride``-th of them, so they are cell centres of the stored grid)."""

    nx: int
    nt: int
    t_final: float
    solver_nx: int | None = None  # None: solve on the stored grid

    def __post_init__(self) -> None:
        check_sizes(self.nx, self.solver_n)
        if not (self.nt >= 1 and self.t_final > 0 and math.isfinite(self.t_final)):
            raise ConfigError(
                f"data.nt={self.nt}, data.t_final={self.t_final}: need nt >= 1 and t_final > 0"
            )

    @property
    def solver_n(self) -> int:
        return self.nx if self.solver_nx is None else self.solver_nx

    @property
    def stride(self) -> int:
        return self.solver_n // self.nx

    @property
    def x_solver(self) -> np.ndarray:
        """(solver_nx,) solver points; same formula as unisim/data/store.py."""
        import numpy as np

        return (np.arange(self.solver_n) + 0.5 * self.stride) / self.solver_n

    @property
    def x(self) -> np.ndarray:
        """(nx,) stored cell centres ``(i + 1/2) / nx``."""
        return self.x_solver[:: self.stride].copy()

    @property
    def t(self) -> np.ndarray:
        """(nt,) stored times, ``linspace(0, t_final, nt)``."""
        import numpy as np

        return np.linspace(0.0, self.t_final, self.nt)


def check_sizes(nx: int, solver_nx: int) -> None:
    """One-line ConfigError unless both grids are even, >= 8, and nx divides solver_nx."""
    if nx < MIN_SOLVER_NX or nx % 2:
        raise ConfigError(f"data.nx={nx} must be an even number >= {MIN_SOLVER_NX}")
    if solver_nx < MIN_SOLVER_NX or solver_nx % 2:
        raise ConfigError(f"data.solver_nx={solver_nx} must be an even number >= {MIN_SOLVER_NX}")
    if solver_nx % nx:
        raise ConfigError(f"data.solver_nx={solver_nx} must be a multiple of data.nx={nx}")


@dataclass(frozen=True)
class ReferenceCase:
    """A problem with a known answer: ``solve(u0, coeffs, grid, spec)`` must match ``exact``."""

    spec: Spec
    grid: Grid
    u0: np.ndarray  # (N, solver_nx) float64
    coeffs: np.ndarray  # (N, C) float64
    exact: np.ndarray  # (N, nt, nx) float64
    tolerance: float  # bound on the relative L2 error over all of u (float32 output included)
    what: str  # one line: which solution, why it is exact


class PDE(ABC):
    """One PDE family. Subclasses set the class attributes and implement the abstract methods."""

    name: ClassVar[str]  # registry key and spec discriminator
    spec_type: ClassVar[type[Spec]]
    coefficients: ClassVar[tuple[Coefficient, ...]]
    solver_version: ClassVar[str]  # part of the data hash: bump when the numbers change
    pdebench: ClassVar[PDEBenchNaming | None] = None  # PDEBench file naming, where one exists

    # ------------------------------------------------------------ coefficients

    @property
    def coefficient_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.coefficients)

    @property
    def conditioning_names(self) -> tuple[str, ...]:
        return tuple(c.feature for c in self.coefficients)

    def draw_coefficients(self, rng: np.random.Generator, n: int, spec: Spec) -> np.ndarray:
        """(n, C) float64, coefficient by coefficient in ``coefficients`` order."""
        import numpy as np

        columns = [sample_draw(rng, n, getattr(spec, c.name)) for c in self.coefficients]
        return np.stack(columns, axis=1) if columns else np.zeros((n, 0))

    def default_coefficients(self, spec: Spec) -> np.ndarray:
        """(C,) float64: the centre of each coefficient's draw (geometric for ``log`` ones),
        what a model assumes when it is not told (an old caller, an exported model)."""
        import numpy as np

        out = []
        for c in self.coefficients:
            lo, hi = draw_bounds(getattr(spec, c.name))
            out.append(math.sqrt(lo * hi) if c.log else 0.5 * (lo + hi))
        return np.asarray(out, dtype=np.float64)

    def default_conditioning(self, spec: Spec) -> np.ndarray:
        """(C,) float32: ``conditioning`` of ``default_coefficients``."""
        return self.conditioning(self.default_coefficients(spec)[None, :])[0]

    def conditioning(self, coeffs: np.ndarray) -> np.ndarray:
        """(N, C) float32: each column normalised as its ``Coefficient`` says."""
        import numpy as np

        coeffs = self._coeff_array(coeffs)
        cols = [c.normalise(coeffs[:, i]) for i, c in enumerate(self.coefficients)]
        return np.stack(cols, axis=1).astype(np.float32) if cols else coeffs.astype(np.float32)

    def _coeff_array(self, coeffs: Any, n: int | None = None) -> np.ndarray:
        import numpy as np

        arr = np.asarray(coeffs, dtype=np.float64)
        if arr.ndim == 1 and len(self.coefficients) == 1 and (n is None or arr.shape[0] == n):
            arr = arr[:, None]
        want = len(self.coefficients)
        if arr.ndim != 2 or arr.shape[1] != want or (n is not None and arr.shape[0] != n):
            raise ConfigError(
                f"{self.name}: coefficients must have shape ({n or 'N'}, {want}) "
                f"[{', '.join(self.coefficient_names)}] (got {arr.shape})"
            )
        return arr

    # ------------------------------------------------------------ initial conditions

    def draw_initial_conditions(
        self, rng: np.random.Generator, n: int, spec: Spec
    ) -> InitialConditions:
        """The random parameters of ``n`` initial conditions; ``.evaluate(x, index)`` samples
        them in batches (the store's pattern: draw once, evaluate per worker)."""
        from unisim.pdes.initial import draw_initial_conditions

        return draw_initial_conditions(n, rng, spec.ic)  # type: ignore[attr-defined]

    def initial_conditions(
        self, rng: np.random.Generator, n: int, grid: Grid, spec: Spec
    ) -> np.ndarray:
        """``n`` initial conditions on the solver grid: (n, solver_nx) float64."""
        return self.draw_initial_conditions(rng, n, spec).evaluate(grid.x_solver)

    # ------------------------------------------------------------ checks

    def check_grid(
        self,
        nx: int,
        solver_nx: int,
        coeffs: Any,
        spec: Spec,
        u0: np.ndarray | None = None,
    ) -> None:
        """One-line ConfigError (naming key and value) if the grid cannot carry the problem.

        ``coeffs`` (N, C) are the trajectories' coefficients (or one row); ``u0`` (N,
        solver_nx), when given, lets a family measure what the data needs (Burgers: the
        actual jumps) instead of a bound from the spec.
        """
        import numpy as np

        check_sizes(nx, solver_nx)
        coeffs = self._coeff_array(coeffs)
        for i, c in enumerate(self.coefficients):
            column = coeffs[:, i]
            bad = ~(np.isfinite(column) & (column >= c.low) & (column <= c.high))
            if np.any(bad):
                c.check(float(column[np.argmax(bad)]))
        if u0 is not None:
            if u0.ndim != 2 or u0.shape != (coeffs.shape[0], solver_nx):
                raise ConfigError(
                    f"{self.name}: initial conditions of shape {u0.shape} for "
                    f"{coeffs.shape[0]} trajectories on data.solver_nx={solver_nx} points"
                )
            if not np.all(np.isfinite(u0)):
                raise ConfigError(f"{self.name}: the initial conditions have NaN or Inf values")
        self.check_resolution(solver_nx, coeffs, spec, u0)

    @abstractmethod
    def check_resolution(
        self, solver_nx: int, coeffs: np.ndarray, spec: Spec, u0: np.ndarray | None
    ) -> None:
        """Refuse (ConfigError) a solver grid too coarse for these coefficients and data;
        ``coeffs`` are already in range."""

    def batch_order(self, u0: np.ndarray, coeffs: np.ndarray, spec: Spec) -> np.ndarray:
        """Indices that sort trajectories by cost per unit time (similar ones batch well:
        a batch shares one time step). Default: as given."""
        import numpy as np

        return np.arange(len(u0))

    # ------------------------------------------------------------ the family's own parts

    @abstractmethod
    def solve(
        self,
        u0: np.ndarray,
        coeffs: np.ndarray,
        grid: Grid,
        spec: Spec,
        *,
        on_interval: Callable[[], None] | None = None,
    ) -> np.ndarray:
        """u at ``grid.t`` on the stored grid: (N, nt, nx) float32. ``u0`` (N, solver_nx) on
        ``grid.x_solver``; ``coeffs`` (N, C); ``on_interval`` is called after each output
        interval (progress, cancellation)."""

    @abstractmethod
    def invariants(self, spec: Spec) -> frozenset[Invariant]:
        """The invariants that hold for every trajectory this spec can produce."""

    @abstractmethod
    def reference(self, grid: Grid) -> ReferenceCase:
        """A case with an exact (or independent) solution on ``grid``, for the tests."""

    def cache_name(self, spec: Spec) -> str:
        """File stem for generated data, e.g. ``burgers_nu0.01`` (the store appends a hash)."""
        parts = [draw_label(c.name, getattr(spec, c.name)) for c in self.coefficients]
        return "_".join([self.name, *parts])

    def read_pdebench(
        self,
        path: str | Path,
        n: int | None = None,
        downsample_x: int = 1,
        downsample_t: int = 1,
    ) -> PDEBenchData:
        """The first ``n`` trajectories of a PDEBench file of this family, with coefficients."""
        from unisim.pdes.pdebench import read_pdebench

        if self.pdebench is None:
            raise ConfigError(f"{KEY}.name={self.name}: PDEBench has no files of this family")
        return read_pdebench(path, self, n, downsample_x, downsample_t)
