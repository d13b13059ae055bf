"""Viscous Burgers (PDEBench's 1D Burgers): spec and PDE plug-in.

    from unisim.pdes.burgers import BurgersSpec, BURGERS
    spec = BurgersSpec(nu=[0.001, 0.01, 0.1, 1.0])      # or nu=0.01, or {log_uniform: [a, b]}
    u = BURGERS.solve(u0, coeffs, grid, spec)           # (N, nt, nx) float32

YAML (the ``data.equation`` section)::

    equation: {name: burgers, nu: 0.01, ic: {k_tot: 4, num_choose_k: 2}, step_factor: 1.0}

The equation, in PDEBench's convention (``pdebench/data_gen/data_gen_NLE/BurgersEq/
burgers_multi_solution_Hydra.py``: diffusion ``epsilon * pi_inv``; configs in
``BurgersEq/config/multi/*.yaml``: x in [0, 1] with 1024 cells, t in [0, 2] saved every
0.01, ``init_multi`` with ``k_tot=4``; ``if_rand_param`` draws ``log epsilon`` uniformly
in [log 0.001, log 10])::

    u_t + (u^2 / 2)_x = (nu / pi) u_xx,   x in [0, 1) periodic.

PDEBench publishes nu in {0.001, 0.002, 0.004, 0.01, 0.02, 0.04, 0.1, 0.2, 0.4, 1, 2, 4}
(``pdebench/data_download/pdebench_data_urls.csv``). The allowed range is their random
range, [0.001, 10]; conditioning feature ``log10_nu = (log10 nu + 1) / 2`` in [-1, 1].

Solver: ``burgers_solver.py`` (ETDRK4, Galilean split, 2/3 dealiasing); verified against
Cole-Hopf (``burgers_exact.py``). Invariants: the mean of u is conserved and the energy
``mean_x u^2`` never grows (viscous dissipation, periodic domain).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import Field, field_validator

from unisim.errors import ConfigError
from unisim.pdes.base import (
    KEY,
    PDE,
    Coefficient,
    Draw,
    Grid,
    Invariant,
    ReferenceCase,
    Spec,
    check_draw_range,
)
from unisim.pdes.initial import InitMulti
from unisim.pdes.pdebench import NUMBER, PDEBenchNaming

if TYPE_CHECKING:
    import numpy as np

NU = Coefficient("nu", 1e-3, 10.0, log=True, doc="viscosity; the diffusion coefficient is nu/pi")


class BurgersSpec(Spec):
    """``data.equation`` for Burgers: viscosity draw, initial conditions, solver settings."""

    name: Literal["burgers"] = "burgers"
    nu: Draw = 0.01  # fixed, a set, or {log_uniform: [a, b]}; in [0.001, 10]
    ic: InitMulti = InitMulti()
    step_factor: float = Field(1.0, gt=0, le=2.5)  # h = step_factor / step_rate; stable to ~2.5

    @field_validator("nu")
    @classmethod
    def _nu_range(cls, v: Draw) -> Draw:
        return check_draw_range(NU, v)


class Burgers(PDE):
    name: ClassVar[str] = "burgers"
    spec_type: ClassVar[type[Spec]] = BurgersSpec
    coefficients: ClassVar[tuple[Coefficient, ...]] = (NU,)
    solver_version: ClassVar[str] = "etdrk4-pseudospectral/1"  # = SOLVER_NAME/SOLVER_VERSION
    pdebench: ClassVar[PDEBenchNaming | None] = PDEBenchNaming(
        pattern=r"Burgers_Sols_Nu" + NUMBER,
        glob="1D_Burgers_Sols_Nu*.hdf5",
        source="pdebench/data_gen/data_gen_NLE/BurgersEq/burgers_multi_solution_Hydra.py",
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

        from unisim.pdes.burgers_solver import solve_burgers

        coeffs = self._coeff_array(coeffs, n=len(u0))
        self.check_grid(grid.nx, grid.solver_n, coeffs, spec, u0)
        u = solve_burgers(
            u0,
            coeffs[:, 0],
            grid.t,
            step_factor=spec.step_factor,  # type: ignore[attr-defined]
            stride=grid.stride,
            on_interval=on_interval,
        )
        return u.astype(np.float32)

    def check_resolution(
        self, solver_nx: int, coeffs: np.ndarray, spec: Spec, u0: np.ndarray | None
    ) -> None:
        """The viscous shock ``tanh(J x / (4 nu/pi))`` must span POINTS_PER_SHOCK points.

        The jump J of each trajectory is measured on ``u0`` when given, else bounded by the
        initial-condition family (``InitMulti.jump_bound``).
        """
        import numpy as np

        from unisim.pdes.burgers_solver import required_solver_nx

        if u0 is not None:
            jumps = u0.max(axis=1) - u0.min(axis=1)  # (N,)
            what = "the initial conditions have"
        else:
            jumps = np.full(len(coeffs), spec.ic.jump_bound())  # type: ignore[attr-defined]
            what = f"{KEY}.ic allows"
        needs = [required_solver_nx(nu, j) for nu, j in zip(coeffs[:, 0], jumps, strict=True)]
        worst = int(np.argmax(needs)) if needs else 0
        if needs and solver_nx < needs[worst]:
            nu, jump = float(coeffs[worst, 0]), float(jumps[worst])
            raise ConfigError(
                f"data.solver_nx={solver_nx} is too coarse for {KEY}.nu={nu:g}: {what} jumps "
                f"up to {jump:.3g}, shocks {4 * nu / math.pi / jump:.2g} wide; it needs "
                f"data.solver_nx >= {needs[worst]}"
            )

    def batch_order(self, u0: np.ndarray, coeffs: np.ndarray, spec: Spec) -> np.ndarray:
        """By the initial step rate ``step_rate(max|u0 - mean|, nu/pi)``, stable: for one nu
        the same order as sorting by ``max|u0 - mean|`` (unisim/data/store.py today)."""
        import numpy as np

        from unisim.pdes.burgers_solver import step_rate

        spread = np.abs(u0 - u0.mean(axis=1, keepdims=True)).max(axis=1)
        coeffs = self._coeff_array(coeffs, n=len(u0))
        return np.argsort(step_rate(spread, coeffs[:, 0] / math.pi), kind="stable")

    def invariants(self, spec: Spec) -> frozenset[Invariant]:
        return frozenset({Invariant.MEAN, Invariant.ENERGY})

    def reference(self, grid: Grid) -> ReferenceCase:
        """Cole-Hopf for ``u0 = c + A sin(2 pi x)``: two trajectories, two viscosities.

        Needs ``grid.solver_nx >= 64``; 1e-5 is the solver's accuracy at STEP_FACTOR = 1
        (tests/test_data_solver.py) plus float32 rounding (~6e-8).
        """
        import numpy as np

        from unisim.pdes.burgers_exact import cole_hopf

        cases = [(0.1, 0.3, 1.0), (0.3, -0.5, 0.7)]  # (nu, mean c, amplitude A)
        xs = grid.x_solver
        u0 = np.stack([c + a * np.sin(2 * np.pi * xs) for _, c, a in cases])
        exact = np.stack([cole_hopf(grid.x, grid.t, nu, c, a) for nu, c, a in cases])
        return ReferenceCase(
            spec=BurgersSpec(nu=(0.1, 0.3)),
            grid=grid,
            u0=u0,
            coeffs=np.array([[nu] for nu, _, _ in cases]),
            exact=exact,
            tolerance=1e-5,
            what="Cole-Hopf, u0 = c + A sin(2 pi x), nu in {0.1, 0.3}",
        )


BURGERS = Burgers()
