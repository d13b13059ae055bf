"""Moved to ``unisim.pdes.burgers_solver`` (the Burgers PDE plug-in); kept so imports work.

    from unisim.data.solver import solve_burgers, required_solver_nx

New code imports from ``unisim.pdes`` directly.
"""

from __future__ import annotations

from unisim.pdes.burgers_solver import (
    ADVECTIVE_CFL,
    CONTOUR_POINTS,
    MIN_SOLVER_NX,
    POINTS_PER_SHOCK,
    SOLVER_NAME,
    SOLVER_VERSION,
    STEP_FACTOR,
    check_grid,
    etdrk4_coefficients,
    required_solver_nx,
    solve_burgers,
    step_rate,
)

__all__ = [
    "ADVECTIVE_CFL",
    "CONTOUR_POINTS",
    "MIN_SOLVER_NX",
    "POINTS_PER_SHOCK",
    "SOLVER_NAME",
    "SOLVER_VERSION",
    "STEP_FACTOR",
    "check_grid",
    "etdrk4_coefficients",
    "required_solver_nx",
    "solve_burgers",
    "step_rate",
]
