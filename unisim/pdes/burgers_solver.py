"""Batched pseudo-spectral ETDRK4 solver for viscous Burgers on the periodic unit interval.

    from unisim.pdes.burgers_solver import solve_burgers, required_solver_nx
    u = solve_burgers(u0, nu=0.01, t=np.linspace(0, 2, 41))   # u0 (B, N) -> u (B, 41, N)
    u = solve_burgers(u0, nu=np.array([0.01, 0.1, ...]), t=t)  # one nu per trajectory

The equation, in PDEBench's convention (diffusion coefficient nu/pi: ``epsilon * pi_inv``
in ``pdebench/data_gen/data_gen_NLE/BurgersEq/burgers_multi_solution_Hydra.py``)::

    u_t + (u^2 / 2)_x = eps u_xx,   eps = nu / pi,   x in [0, 1) periodic.

Method (Kassam & Trefethen 2005, "Fourth-order time-stepping for stiff PDEs"):

* Galilean split. The mean ``c`` of u is conserved. Writing ``u(x, t) = c + v(x - c t, t)``,
  v solves the same equation with zero mean, and the translation is applied exactly in
  Fourier space at output times (a phase ``exp(-i k c t)``). The time step then depends
  on ``max |v|`` instead of ``max |u|``, which halves the work on PDEBench's initial
  conditions (their mean is generally non-zero) and keeps the mean exact: mode 0 is
  never touched.
* Space: Fourier modes ``k = 2 pi j``, ``0 <= j < N/3`` (2/3-rule dealiasing); the
  nonlinear term ``-i k/2 FFT(v^2)`` is evaluated on the N-point grid with numpy's rfft.
* Time: ETDRK4, exact for the stiff diffusion ``L = -eps k^2``; its phi-function
  coefficients come from a contour integral on a circle of ``CONTOUR_POINTS`` points
  around each ``h L`` (no cancellation error for small ``h L``); see ``spectral.py``.
  Per-trajectory viscosities: one ``L`` per distinct nu in the batch.
* Step size: ``h = STEP_FACTOR / (max|v|^2 / eps + 2 pi max|v| / ADVECTIVE_CFL)``. The
  first rate resolves a viscous front (width ~eps/|v|, moving at |v|) and is also the
  stability bound: modes with ``eps k^2 > k |v|`` are damped by the exact linear part,
  so the grid spacing does not limit the step (stable up to STEP_FACTOR ~ 2.5). The
  second resolves the large-scale steepening, which dominates at large nu. Tuned for a
  relative L2 error of ~1e-6..5e-6 against Cole-Hopf for nu in [0.01, 1]
  (tests/test_data_solver.py, benchmarks/solver.py). ``max|v|`` is re-measured at every
  output time (the maximum principle says it never grows), so the step grows as the
  solution decays. One step size per batch and output interval: the largest rate of
  its rows, so a batch of similar trajectories (``Burgers.batch_order``) wastes least.
* Resolution: a viscous shock with jump ``J`` has the profile ``tanh(J x / (4 eps))``;
  its width ``4 eps / J`` must span ``POINTS_PER_SHOCK`` grid points. ``J`` is bounded
  by ``max u0 - min u0``; ``required_solver_nx`` turns that into a grid size, and
  ``solve_burgers`` refuses a grid that is too coarse.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from unisim.errors import UnisimError
from unisim.pdes.spectral import (
    CONTOUR_POINTS,
    Dealiased,
    LinearTable,
    etdrk4_coefficients,
    etdrk4_step,
    unique_rows,
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

SOLVER_NAME = "etdrk4-pseudospectral"
# Bump when a change alters the generated numbers: it is part of the data hash, so
# caches made by an older solver are not reused.
SOLVER_VERSION = "1"
STEP_FACTOR = 1.0  # h = STEP_FACTOR / step_rate(max|v|, eps); stable up to ~2.5
ADVECTIVE_CFL = 0.16  # steps per shock-formation time 1 / (2 pi max|v|) is 1 / ADVECTIVE_CFL
POINTS_PER_SHOCK = 3.0  # grid points across the viscous shock width 4 eps / jump
MIN_SOLVER_NX = 8


def required_solver_nx(nu: float, jump: float) -> int:
    """Smallest grid on which a shock of height ``jump`` is resolved at viscosity ``nu``."""
    eps = nu / math.pi
    return max(MIN_SOLVER_NX, math.ceil(POINTS_PER_SHOCK * jump / (4.0 * eps)))


def check_grid(n: int, nu: float | np.ndarray, u0: np.ndarray | None = None) -> None:
    """Raise a one-line ``UnisimError`` if ``n`` points cannot carry this problem.

    ``nu`` is one viscosity or one per row of ``u0`` (B,).
    """
    nus = np.atleast_1d(np.asarray(nu, dtype=np.float64))
    bad = ~(np.isfinite(nus) & (nus > 0))
    if np.any(bad):
        raise UnisimError(f"data.nu must be a positive number (got {nus[np.argmax(bad)]})")
    if n < MIN_SOLVER_NX or n % 2:
        raise UnisimError(f"data.solver_nx must be an even number >= {MIN_SOLVER_NX} (got {n})")
    if u0 is None or u0.size == 0:
        return
    if not np.all(np.isfinite(u0)):
        raise UnisimError("initial condition has NaN or Inf values")
    jumps = np.atleast_1d(u0.max(axis=-1) - u0.min(axis=-1))  # (B,)
    nus = np.broadcast_to(nus, jumps.shape)
    needs = [required_solver_nx(float(a), float(b)) for a, b in zip(nus, jumps, strict=True)]
    worst = int(np.argmax(needs))
    if n < needs[worst]:
        nu_w, jump = float(nus[worst]), float(jumps[worst])
        nu_text = f"{nu_w}" if np.ndim(nu) == 0 else f"{nu_w:g}"
        raise UnisimError(
            f"data.solver_nx={n} cannot resolve the shocks at nu={nu_text} (jump up to "
            f"{jump:.3g}, width {4 * nu_w / math.pi / jump:.2g}); it needs "
            f"data.solver_nx >= {needs[worst]}"
        )


def step_rate(vmax: float | np.ndarray, eps: float | np.ndarray) -> float | np.ndarray:
    """Steps per unit time (1 / step size) for a zero-mean field bounded by ``vmax``.

    Two rates add up: the viscous front (one step per ``eps / vmax^2``) and the
    large-scale steepening (``1 / ADVECTIVE_CFL`` steps per ``1 / (2 pi vmax)``, the
    shock formation time of a sine of amplitude ``vmax``).
    """
    return vmax**2 / eps + 2 * math.pi * vmax / ADVECTIVE_CFL


def solve_burgers(
    u0: np.ndarray,
    nu: float | np.ndarray,
    t: np.ndarray,
    *,
    step_factor: float = STEP_FACTOR,
    stride: int = 1,
    on_interval: Callable[[], None] | None = None,
) -> np.ndarray:
    """Solve from ``u0`` (B, N) and return u at the times ``t`` (t[0] = 0): (B, len(t), N/stride).

    ``nu`` is one viscosity or one per trajectory (B,). ``u0`` is sampled on a uniform
    periodic grid of N points (any offset); the result is on the same grid, every
    ``stride``-th point, float64. ``on_interval`` is called after each output interval
    (for progress reports).
    """
    u0 = np.atleast_2d(np.asarray(u0, dtype=np.float64))
    t = np.asarray(t, dtype=np.float64)
    batch, n = u0.shape
    check_grid(n, nu, u0)
    if t.ndim != 1 or t.size < 1 or t[0] != 0 or np.any(np.diff(t) <= 0):
        raise UnisimError("output times must start at 0 and increase")
    if n % stride:
        raise UnisimError(f"stride {stride} must divide the grid size {n}")
    if not step_factor > 0:
        raise UnisimError(f"step_factor must be positive (got {step_factor})")
    eps = np.broadcast_to(np.asarray(nu, dtype=np.float64) / math.pi, (batch,))  # (B,)
    sp = Dealiased(batch, n)
    distinct, rows = unique_rows(eps[:, None])  # (U, 1), (B,)
    table = LinearTable(-distinct * sp.k[None, :] ** 2, rows)  # L = -eps k^2, (U, K)
    grad = -0.5j * sp.k  # d/dx of (v^2 / 2)

    def nonlinear(vhat: np.ndarray) -> np.ndarray:
        """``-(v^2/2)_x`` in Fourier space, dealiased: (B, K) -> (B, K)."""
        return grad * sp.square_hat(vhat)

    mean = u0.mean(axis=-1, keepdims=True)  # (B, 1), conserved exactly
    vhat = sp.to_hat(u0 - mean)
    vhat[:, 0] = 0.0  # the mean lives in ``mean``; mode 0 of v stays 0 forever

    out = np.empty((batch, t.size, n // stride))
    out[:, 0] = u0[:, ::stride]
    v_grid = u0 - mean
    for i in range(1, t.size):
        interval = t[i] - t[i - 1]
        vmax = np.abs(v_grid).max(axis=-1) if batch else np.zeros(0)  # (B,)
        # the batch's step suits its most demanding row; the max of a monotone rate is the
        # rate of the largest vmax, so a single-nu batch takes the steps it always did
        rate = float(np.max(step_rate(vmax, eps))) if batch else 0.0
        steps = max(1, math.ceil(interval * rate / step_factor - 1e-9))
        coeffs = table.coefficients(interval / steps)
        for _ in range(steps):
            vhat = etdrk4_step(vhat, coeffs, nonlinear)
        v_grid = sp.to_grid(vhat)
        # back to the lab frame: u(x, t) = c + v(x - c t, t), a phase shift per mode
        shifted = vhat * np.exp(-1j * sp.k[None, :] * mean * t[i])
        out[:, i] = (sp.to_grid(shifted) + mean)[:, ::stride]
        if on_interval is not None:
            on_interval()
    if not np.all(np.isfinite(out)):
        where = f"nu={nu}" if np.ndim(nu) == 0 else f"nu in [{np.min(nu):g}, {np.max(nu):g}]"
        raise UnisimError(f"the solver diverged at {where} on {n} points (NaN/Inf in u)")
    return out
