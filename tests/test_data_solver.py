"""The Burgers solver against the exact Cole-Hopf solution, its invariants, and the ICs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from unisim.config import InitialConditionConfig
from unisim.data.exact import cole_hopf
from unisim.data.initial import draw_initial_conditions, init_multi
from unisim.data.solver import check_grid, required_solver_nx, solve_burgers
from unisim.errors import UnisimError


def _grid(n: int) -> np.ndarray:
    return (np.arange(n) + 0.5) / n


def _rel_l2(u: np.ndarray, ref: np.ndarray) -> float:
    return float(np.linalg.norm(u - ref) / np.linalg.norm(ref))


@pytest.mark.parametrize(
    ("nu", "n", "mean", "amplitude"),
    [
        (0.1, 256, 0.3, 1.0),  # smooth, non-zero mean
        (0.01, 1024, -0.5, 1.0),  # a shock forms at t = 1/(2 pi) and decays; default grid
    ],
)
def test_matches_cole_hopf(nu, n, mean, amplitude):
    x, t = _grid(n), np.linspace(0.0, 2.0, 41)
    u = solve_burgers(mean + amplitude * np.sin(2 * np.pi * x), nu, t)[0]
    every = slice(None, None, 2)  # the quadrature is the slow part: every other stored time
    exact = cole_hopf(x, t[every], nu, mean=mean, amplitude=amplitude)
    error = _rel_l2(u[every], exact)
    assert error < 1e-5, f"relative L2 error {error:.2e} over space and time"
    assert _rel_l2(u[-1], exact[-1]) < 1e-5


@pytest.mark.slow
@pytest.mark.parametrize(
    ("nu", "n", "mean", "amplitude"),
    [(1.0, 128, 0.8, 1.0), (0.1, 512, -1.0, 1.5), (0.01, 2048, 0.7, 1.5), (0.02, 1024, 0.0, 2.0)],
)
def test_matches_cole_hopf_more_cases(nu, n, mean, amplitude):
    x, t = _grid(n), np.linspace(0.0, 2.0, 81)
    u = solve_burgers(mean + amplitude * np.sin(2 * np.pi * x), nu, t)[0]
    assert _rel_l2(u, cole_hopf(x, t, nu, mean=mean, amplitude=amplitude)) < 1e-5


def test_cole_hopf_small_nu_does_not_overflow_and_tends_to_the_inviscid_solution():
    """log-sum-exp keeps exp(A cos / (4 pi eps)) ~ e^785 from overflowing at nu=1e-3."""
    x, t, mean = _grid(64), 0.05, 0.2  # before the shock forms (t < 1/(2 pi))
    u = cole_hopf(x, [0.0, t, 0.5, 2.0], nu=1e-3, mean=mean, amplitude=1.0)
    assert np.all(np.isfinite(u))
    np.testing.assert_allclose(u[0], mean + np.sin(2 * np.pi * x))
    assert u.max() <= 1.2 + 1e-12 and u.min() >= -0.8 - 1e-12  # maximum principle
    # inviscid characteristics: v = sin(2 pi xi) with xi + t sin(2 pi xi) = x - mean t
    target = x - mean * t
    xi = target.copy()
    for _ in range(50):
        xi -= (xi + t * np.sin(2 * np.pi * xi) - target) / (
            1 + 2 * np.pi * t * np.cos(2 * np.pi * xi)
        )
    np.testing.assert_allclose(u[1], mean + np.sin(2 * np.pi * xi), atol=2e-3)


def _random_solution(nu: float, n: int, samples: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    u0 = init_multi(_grid(n), samples, np.random.default_rng(seed))
    return u0, solve_burgers(u0, nu, np.linspace(0.0, 2.0, 21))


def _assert_invariants(u: np.ndarray) -> None:
    mean = u.mean(axis=2)  # (samples, nt)
    assert np.abs(mean - mean[:, :1]).max() < 1e-10
    energy = (u**2).mean(axis=2)
    assert np.all(np.diff(energy, axis=1) <= 1e-12 * energy[:, :1])
    top, bottom = u.max(axis=2), u.min(axis=2)
    assert np.all(np.diff(top, axis=1) <= 1e-8)
    assert np.all(np.diff(bottom, axis=1) >= -1e-8)


def test_mean_energy_and_extrema_on_random_initial_conditions():
    u0, u = _random_solution(nu=0.05, n=256, samples=8, seed=3)
    assert np.abs(u0.mean(axis=1)).max() > 0.1  # the family has non-zero means
    _assert_invariants(u)
    assert np.all((u**2).mean(axis=2)[:, -1] < (u0**2).mean(axis=1))  # it does dissipate


@pytest.mark.slow
def test_invariants_at_nu_001_on_the_default_grid():
    _, u = _random_solution(nu=0.01, n=1024, samples=32, seed=5)
    _assert_invariants(u)


def test_solver_is_deterministic_and_batch_rows_independent_of_order():
    u0 = init_multi(_grid(64), 4, np.random.default_rng(1))
    t = np.linspace(0, 1, 5)
    a = solve_burgers(u0, 0.2, t)
    assert a.tobytes() == solve_burgers(u0, 0.2, t).tobytes()
    # the step is set by the batch's largest |u - mean|: reversing the rows changes nothing
    np.testing.assert_array_equal(solve_burgers(u0[::-1], 0.2, t)[::-1], a)


def test_stride_keeps_every_kth_point():
    u0 = init_multi(_grid(64), 2, np.random.default_rng(1))
    t = np.linspace(0, 0.5, 3)
    full = solve_burgers(u0, 0.3, t)
    np.testing.assert_array_equal(solve_burgers(u0, 0.3, t, stride=4), full[:, :, ::4])


def test_too_coarse_grid_is_refused_with_the_needed_size():
    u0 = np.sin(2 * np.pi * _grid(256))[None]  # jump 2
    with pytest.raises(UnisimError, match=r"needs data.solver_nx >= (\d+)") as err:
        solve_burgers(u0, 1e-3, np.linspace(0, 1, 3))
    message = str(err.value)
    assert "\n" not in message
    need = int(message.rsplit(">= ", 1)[1])
    assert need == required_solver_nx(1e-3, 2.0)
    check_grid(need + need % 2, 1e-3, np.sin(2 * np.pi * _grid(need + need % 2))[None])


@pytest.mark.parametrize(
    ("n", "nu", "match"),
    [(64, 0.0, "data.nu"), (64, -0.1, "data.nu"), (64, math.nan, "data.nu"), (63, 0.1, "even")],
)
def test_bad_inputs_are_one_line_errors(n, nu, match):
    with pytest.raises(UnisimError, match=match) as err:
        solve_burgers(np.zeros((1, n)), nu, np.linspace(0, 1, 3))
    assert "\n" not in str(err.value)


def test_bad_output_times():
    with pytest.raises(UnisimError, match="output times"):
        solve_burgers(np.zeros((1, 32)), 0.1, np.array([0.1, 0.2]))


# ---------------------------------------------------------------- initial conditions


def test_initial_conditions_same_seed_same_bytes():
    x = _grid(128)
    a = init_multi(x, 16, np.random.default_rng(7))
    assert a.tobytes() == init_multi(x, 16, np.random.default_rng(7)).tobytes()
    assert not np.array_equal(a, init_multi(x, 16, np.random.default_rng(8)))
    # evaluating in batches gives the same numbers as all at once
    ics = draw_initial_conditions(16, np.random.default_rng(7))
    np.testing.assert_array_equal(
        np.concatenate([ics.evaluate(x, slice(0, 5)), ics.evaluate(x, slice(5, None))]), a
    )


def test_initial_conditions_follow_pdebench_init_multi():
    x = _grid(256)
    ics = draw_initial_conditions(400, np.random.default_rng(0))
    u = ics.evaluate(x)
    # 2 of 4 wavenumbers active; the other entries are constants: non-zero means
    assert np.all((ics.kk > 0).sum(axis=1) <= 2) and np.all((ics.kk > 0).sum(axis=1) >= 1)
    assert np.abs(u.mean(axis=1)).mean() > 0.3
    assert np.all(np.abs(u).max(axis=1) < 4.0)  # sum of four U(0,1) amplitudes
    assert 0.05 < ics.take_abs.mean() < 0.15 and 0.05 < ics.window.mean() < 0.15
    assert 0.4 < (ics.sign > 0).mean() < 0.6
    # periodic: the Fourier content of a window-free sample stops at wavenumber 2*k_tot
    plain = ~ics.window
    spectrum = np.abs(np.fft.rfft(u[plain & ~ics.take_abs], axis=1)) / 256
    assert spectrum[:, 9:].max() < 1e-12


def test_abs_and_window_options():
    x = _grid(200)
    always_abs = InitialConditionConfig(p_abs=1.0, p_window=0.0)
    u = init_multi(x, 32, np.random.default_rng(0), always_abs)
    assert np.all((u >= 0).all(axis=1) | (u <= 0).all(axis=1))  # |u| then a sign flip
    windowed = init_multi(x, 32, np.random.default_rng(0), InitialConditionConfig(p_window=1.0))
    edges = (x < 0.05) | (x > 0.95)  # outside every window (xL > 0.1, xR < 0.9)
    assert np.abs(windowed[:, edges]).max() < 1e-3
    single = InitialConditionConfig(k_tot=1, num_choose_k=1, p_abs=0.0, p_window=0.0)
    one = init_multi(x, 8, np.random.default_rng(0), single)
    np.testing.assert_allclose(one.mean(axis=1), 0.0, atol=1e-12)  # one sine, no constant
