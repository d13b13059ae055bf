"""Reaction-diffusion with logistic growth (PDEBench's 1D ReacDiff): spec and PDE plug-in.

    from unisim.pdes.reaction_diffusion import ReactionDiffusionSpec, REACTION_DIFFUSION
    spec = ReactionDiffusionSpec(nu=0.5, rho=[1.0, 2.0, 5.0, 10.0])
    u = REACTION_DIFFUSION.solve(u0, coeffs, grid, spec)     # (N, nt, nx) float32

YAML: ``equation: {name: reaction_diffusion, nu: 0.5, rho: 1.0}``.

The equation and data, as PDEBench (``pdebench/data_gen/data_gen_NLE/ReactionDiffusionEq/
reaction_diffusion_multi_solution_Hydra.py``, configs
``ReactionDiffusionEq/config/multi/Rho*_Nu*.yaml``: x in [0, 1] with 1024 cells, t in
[0, 1] saved every 0.01, ``init_multi`` with ``k_tot=4`` and ``if_norm=True`` so u0 spans
[0, 1]; ``if_rand_param`` draws log nu and log rho uniformly in [log 0.001, log 10])::

    u_t = nu u_xx + rho u (1 - u),   x in [0, 1) periodic.

PDEBench publishes nu in {0.5, 1, 2, 5, 10} x rho in {1, 2, 5, 10}
(``pdebench/data_download/pdebench_data_urls.csv``, ``ReacDiff_Nu*_Rho*.hdf5``).
Allowed ranges: nu in [0.001, 10] (conditioning ``log10_nu = (log10 nu + 1) / 2``), rho in
[0, 10] (conditioning ``rho / 5 - 1``, linear: the reaction's effect over the unit time
scales with rho t, and rho = 0, pure diffusion, must be allowed).

Solver: ``reaction_diffusion_solver.py`` (ETDRK4 with ``L = -nu k^2 + rho``). Invariants:
with rho fixed at 0 the equation is the heat equation (mean conserved, energy
non-increasing); with any reaction neither holds (u grows towards 1).
"""

from __future__ import annotations

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
    draw_bounds,
)
from unisim.pdes.initial import WINDOW_TRANSITION, InitMulti
from unisim.pdes.pdebench import NUMBER, PDEBenchNaming

if TYPE_CHECKING:
    import numpy as np

NU = Coefficient("nu", 1e-3, 10.0, log=True, doc="diffusion coefficient")
RHO = Coefficient("rho", 0.0, 10.0, log=False, doc="logistic growth rate")


class ReactionDiffusionSpec(Spec):
    """``data.equation`` for reaction-diffusion: nu and rho draws, ICs, solver settings."""

    name: Literal["reaction_diffusion"] = "reaction_diffusion"
    nu: Draw = 0.5  # fixed, a set, or {log_uniform: [a, b]}; in [0.001, 10]
    rho: Draw = 1.0  # fixed or a set (log_uniform excludes 0); in [0, 10]
    ic: InitMulti = InitMulti(normalize=True)  # PDEBench's if_norm=True
    step_factor: float = Field(1.0, gt=0, le=4.0)  # scales every step-size limit

    @field_validator("nu")
    @classmethod
    def _nu_range(cls, v: Draw) -> Draw:
        return check_draw_range(NU, v)

    @field_validator("rho")
    @classmethod
    def _rho_range(cls, v: Draw) -> Draw:
        return check_draw_range(RHO, v)


class ReactionDiffusion(PDE):
    name: ClassVar[str] = "reaction_diffusion"
    spec_type: ClassVar[type[Spec]] = ReactionDiffusionSpec
    coefficients: ClassVar[tuple[Coefficient, ...]] = (NU, RHO)
    solver_version: ClassVar[str] = "etdrk4-pseudospectral/1"
    pdebench: ClassVar[PDEBenchNaming | None] = PDEBenchNaming(
        pattern=r"ReacDiff_(?:react_)?Nu" + NUMBER + r"_Rho" + NUMBER,
        glob="ReacDiff_Nu*_Rho*.hdf5",
        source="pdebench/data_gen/data_gen_NLE/ReactionDiffusionEq/"
        "reaction_diffusion_multi_solution_Hydra.py",
        downsample=(4, 1),  # pdebench/models/config/args/config_ReacDiff.yaml
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

        from unisim.pdes.reaction_diffusion_solver import solve_reaction_diffusion

        coeffs = self._coeff_array(coeffs, n=len(u0))
        self.check_grid(grid.nx, grid.solver_n, coeffs, spec, u0)
        u = solve_reaction_diffusion(
            u0,
            coeffs[:, 0],
            coeffs[:, 1],
            grid.t,
            step_factor=spec.step_factor,  # type: ignore[attr-defined]
            stride=grid.stride,
            on_interval=on_interval,
        )
        return u.astype(np.float32)

    def check_resolution(
        self, solver_nx: int, coeffs: np.ndarray, spec: Spec, u0: np.ndarray | None
    ) -> None:
        """Fisher fronts ``sqrt(nu / rho)`` wide and the ICs' tanh windows must be resolved
        by the modes the 2/3 rule keeps (``required_solver_nx``)."""
        import numpy as np

        from unisim.pdes.reaction_diffusion_solver import WINDOW_NX, required_solver_nx

        needs = [required_solver_nx(nu, rho) for nu, rho in coeffs]
        worst = int(np.argmax(needs)) if needs else 0
        if needs and solver_nx < needs[worst]:
            nu, rho = coeffs[worst]
            raise ConfigError(
                f"data.solver_nx={solver_nx} is too coarse for {KEY}.nu={nu:g} with "
                f"{KEY}.rho={rho:g}: fronts are {np.sqrt(nu / rho):.2g} wide; it needs "
                f"data.solver_nx >= {needs[worst]}"
            )
        if spec.ic.p_window > 0 and solver_nx < WINDOW_NX:  # type: ignore[attr-defined]
            raise ConfigError(
                f"data.solver_nx={solver_nx} is too coarse for the tanh windows of {KEY}.ic "
                f"(edges {WINDOW_TRANSITION} wide); it needs data.solver_nx >= {WINDOW_NX} "
                f"or {KEY}.ic.p_window=0"
            )

    def batch_order(self, u0: np.ndarray, coeffs: np.ndarray, spec: Spec) -> np.ndarray:
        """By (rho, nu): the step is set by the batch's largest rho, then its stiff modes."""
        import numpy as np

        coeffs = self._coeff_array(coeffs, n=len(u0))
        return np.lexsort((coeffs[:, 0], coeffs[:, 1]))

    def invariants(self, spec: Spec) -> frozenset[Invariant]:
        if draw_bounds(spec.rho) == (0.0, 0.0):  # type: ignore[attr-defined]
            return frozenset({Invariant.MEAN, Invariant.ENERGY})  # the heat equation
        return frozenset()

    def reference(self, grid: Grid) -> ReferenceCase:
        """Exact solutions in one batch (so per-trajectory coefficients are exercised):

        * spatially uniform u0 = 0.05, 0.6: the logistic ODE, rho = 10 and 1 (solver
          error ~(rho h)^4 <= 5e-7);
        * rho = 0, u0 = 0.5 + 0.3 sin(2 pi x) + 0.1 cos(6 pi x): the heat equation, each
          Fourier mode times exp(-nu k^2 t) (exact to round-off).
        """
        import numpy as np

        from unisim.pdes.reaction_diffusion_solver import diffuse, logistic

        xs = grid.x_solver
        smooth = 0.5 + 0.3 * np.sin(2 * np.pi * xs) + 0.1 * np.cos(6 * np.pi * xs)
        u0 = np.stack([np.full_like(xs, 0.05), np.full_like(xs, 0.6), smooth])
        coeffs = np.array([[0.5, 10.0], [1e-3, 1.0], [0.05, 0.0]])
        ones = np.ones((grid.nt, grid.nx))
        exact = np.stack(
            [
                logistic(0.05, 10.0, grid.t)[:, None] * ones,
                logistic(0.6, 1.0, grid.t)[:, None] * ones,
                diffuse(smooth[None], 0.05, grid.t)[0][:, :: grid.stride],
            ]
        )
        return ReferenceCase(
            spec=ReactionDiffusionSpec(
                nu=(0.001, 0.05, 0.5),
                rho=(0.0, 1.0, 10.0),
                ic=InitMulti(normalize=True, p_window=0.0),  # any grid: no window to resolve
            ),
            grid=grid,
            u0=u0,
            coeffs=coeffs,
            exact=exact,
            tolerance=1e-6,
            what="logistic ODE for uniform u (rho 10, 1) and the heat equation (rho 0)",
        )


REACTION_DIFFUSION = ReactionDiffusion()
