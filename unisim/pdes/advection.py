"""Linear advection (PDEBench's 1D Advection): spec, exact spectral-shift solver, PDE plug-in.

    from unisim.pdes.advection import AdvectionSpec, ADVECTION, shift_spectral
    spec = AdvectionSpec(beta=[0.1, 0.4, 1.0, 4.0])
    u = ADVECTION.solve(u0, coeffs, grid, spec)          # (N, nt, nx) float32
    u = shift_spectral(u0, beta, t)                      # (N, nt, n) float64

YAML: ``equation: {name: advection, beta: 0.4}``.

The equation and data, as PDEBench (``pdebench/data_gen/data_gen_NLE/AdvectionEq/
advection_multi_solution_Hydra.py``, configs ``AdvectionEq/config/multi/beta*.yaml``:
x in [0, 1] with 1024 cells, t in [0, 2] saved every 0.01, ``init_multi`` with
``k_tot=4``; ``if_rand_param`` draws ``log beta`` uniformly in [log 0.01, log 100])::

    u_t + beta u_x = 0,   x in [0, 1) periodic,   u(x, t) = u0(x - beta t).

PDEBench publishes beta in {0.1, 0.2, 0.4, 0.7, 1, 2, 4, 7}
(``pdebench/data_download/pdebench_data_urls.csv``); their solver is a second-order
finite-volume scheme, ours is exact. Allowed range: their random range [0.01, 100];
conditioning feature ``log10_beta / 2`` in [-1, 1].

Solver: the exact solution is a shift, and a shift is a phase per Fourier mode:
``uhat_j -> uhat_j exp(-2 pi i j s)`` with ``s = (beta t) mod 1`` (reducing s first keeps
the phase exact for any beta t). This reproduces ``u0(x - beta t)`` to round-off when
u0 is band-limited on the solver grid (no content at or above the Nyquist mode), and
otherwise shifts its trigonometric interpolant. Cost: one rFFT per trajectory and one
inverse per stored time; no time steps, no stability limit.

Resolution: a windowed initial condition (``ic.p_window > 0``) has tanh edges of width
0.01, whose Fourier modes decay like ``exp(-pi^2 0.01 j)``; ``check_grid`` requires the
solver grid to carry them to 1e-6 of their size (``WINDOW_NX``). ``|u|`` kinks
(``ic.p_abs``) are never band-limited: on 1024 points the shifted interpolant rings next to
them (max |error| 1.2e-3, relative L2 2e-5 over PDEBench-like data; tests/test_pdes.py).
PDEBench's own finite-volume data smears those kinks far more.

Invariants: the mean of u and the energy ``mean_x u^2`` are conserved exactly, so both
gates apply (energy "not increasing" with equality).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import field_validator

from unisim.errors import ConfigError
from unisim.pdes.base import (
    KEY,
    PDE,
    Coefficient,
    Draw,
    Grid,
    Invariant,
    LogUniform,
    ReferenceCase,
    Spec,
    check_draw_range,
)
from unisim.pdes.initial import WINDOW_TRANSITION, InitMulti
from unisim.pdes.pdebench import NUMBER, PDEBenchNaming

if TYPE_CHECKING:
    import numpy as np

BETA = Coefficient("beta", 1e-2, 100.0, log=True, doc="advection speed (domain lengths per time)")
SOLVER_VERSION = "spectral-shift/1"
WINDOW_TOLERANCE = 1e-6
# modes up to Nyquist (n/2) must reach exp(-pi^2 a j) <= tol for the window edge width a
WINDOW_NX = 2 * math.ceil(math.log(1 / WINDOW_TOLERANCE) / (math.pi**2 * WINDOW_TRANSITION))


def shift_spectral(
    u0: np.ndarray,
    beta: float | np.ndarray,
    t: np.ndarray,
    *,
    stride: int = 1,
    on_interval: Callable[[], None] | None = None,
) -> np.ndarray:
    """``u0(x - beta t)`` by Fourier phase shifts: u0 (B, n), beta (B,) -> (B, len(t), n/stride).

    Float64. ``u0`` is sampled on a uniform periodic grid of n points (any offset).
    """
    import numpy as np

    u0 = np.atleast_2d(np.asarray(u0, dtype=np.float64))
    t = np.asarray(t, dtype=np.float64)
    batch, n = u0.shape
    if n % stride:
        raise ConfigError(f"stride {stride} must divide the grid size {n}")
    beta = np.broadcast_to(np.asarray(beta, dtype=np.float64), (batch,))[:, None]  # (B, 1)
    uhat = np.fft.rfft(u0, axis=-1)  # (B, n/2 + 1)
    j = np.arange(uhat.shape[1])  # integer mode numbers: exp(-2 pi i j s) is 1-periodic in s
    out = np.empty((batch, t.size, n // stride))
    for i, ti in enumerate(t):
        s = np.mod(beta * ti, 1.0)  # (B, 1) shift in domain lengths, reduced to [0, 1)
        out[:, i] = np.fft.irfft(uhat * np.exp(-2j * np.pi * j * s), n=n, axis=-1)[:, ::stride]
        if on_interval is not None and i > 0:
            on_interval()
    return out


class AdvectionSpec(Spec):
    """``data.equation`` for advection: speed draw and initial conditions."""

    name: Literal["advection"] = "advection"
    beta: Draw = 1.0  # fixed, a set, or {log_uniform: [a, b]}; in [0.01, 100]
    ic: InitMulti = InitMulti()

    @field_validator("beta")
    @classmethod
    def _beta_range(cls, v: Draw) -> Draw:
        return check_draw_range(BETA, v)


class Advection(PDE):
    name: ClassVar[str] = "advection"
    spec_type: ClassVar[type[Spec]] = AdvectionSpec
    coefficients: ClassVar[tuple[Coefficient, ...]] = (BETA,)
    solver_version: ClassVar[str] = SOLVER_VERSION
    pdebench: ClassVar[PDEBenchNaming | None] = PDEBenchNaming(
        pattern=r"Advection_Sols_beta" + NUMBER,
        glob="1D_Advection_Sols_beta*.hdf5",
        source="pdebench/data_gen/data_gen_NLE/AdvectionEq/advection_multi_solution_Hydra.py",
    )

    def solve(
        self,
        u0: np.ndarray,
        coeffs: np.ndarray,
        grid: Grid,
        spec: Spec,
        *,
        on_interval: Callable[[], None] | None = None,
    ) -> np.ndarray:
        import numpy as np

        coeffs = self._coeff_array(coeffs, n=len(u0))
        self.check_grid(grid.nx, grid.solver_n, coeffs, spec, u0)
        u = shift_spectral(u0, coeffs[:, 0], grid.t, stride=grid.stride, on_interval=on_interval)
        return u.astype(np.float32)

    def check_resolution(
        self, solver_nx: int, coeffs: np.ndarray, spec: Spec, u0: np.ndarray | None
    ) -> None:
        """Any beta is exact; the windowed initial conditions need WINDOW_NX points."""
        if spec.ic.p_window > 0 and solver_nx < WINDOW_NX:  # type: ignore[attr-defined]
            raise ConfigError(
                f"data.solver_nx={solver_nx} is too coarse for the tanh windows of "
                f"{KEY}.ic (edges {WINDOW_TRANSITION} wide, p_window="
                f"{spec.ic.p_window}); it needs data.solver_nx >= {WINDOW_NX} "  # type: ignore[attr-defined]
                f"or {KEY}.ic.p_window=0"
            )

    def invariants(self, spec: Spec) -> frozenset[Invariant]:
        return frozenset({Invariant.MEAN, Invariant.ENERGY})

    def reference(self, grid: Grid) -> ReferenceCase:
        """Band-limited ``init_multi`` data (no |.|, no window) shifted exactly.

        ``InitialConditions.evaluate(x - beta t)`` is the exact solution; the spectral shift
        matches it to round-off (float64 ~1e-14), so the bound is float32's rounding.
        """
        import numpy as np

        from unisim.pdes.initial import draw_initial_conditions

        ic = InitMulti(p_abs=0.0, p_window=0.0)
        spec = AdvectionSpec(beta=LogUniform(log_uniform=(0.1, 40.0)), ic=ic)
        betas = np.array([0.1, 0.7, 4.0, 37.3])
        ics = draw_initial_conditions(len(betas), np.random.default_rng(11), spec.ic)
        u0 = ics.evaluate(grid.x_solver)
        exact = np.stack(
            [
                np.stack([ics.evaluate(np.mod(grid.x - b * ti, 1.0), [r])[0] for ti in grid.t])
                for r, b in enumerate(betas)
            ]
        )  # (N, nt, nx)
        return ReferenceCase(
            spec=spec,
            grid=grid,
            u0=u0,
            coeffs=betas[:, None],
            exact=exact,
            tolerance=2e-7,
            what="exact shift u0(x - beta t) of band-limited init_multi data, 4 speeds",
        )


ADVECTION = Advection()
