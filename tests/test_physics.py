"""Physics checks: mean drift, energy increases, NaN/Inf; and the true data passes them."""

from __future__ import annotations

import numpy as np
import pytest

from unisim.evaluation.physics import conservation_gaps, energy, physics_metrics

X = np.linspace(0, 1, 32, endpoint=False)


def decaying(n_steps: int, amp: float = 1.0, mean: float = 0.3) -> np.ndarray:
    """A viscous-like field: constant mean, decaying oscillation -> (1, n_steps, 32)."""
    t = np.arange(n_steps)[:, None]
    return (mean + amp * np.exp(-0.2 * t) * np.sin(2 * np.pi * X))[None]


def test_a_conservative_decaying_rollout_passes() -> None:
    ref = decaying(1)[:, 0]
    pred = decaying(6)[:, 1:]
    m = physics_metrics(pred, ref)
    assert m["conservation_gap"] == pytest.approx(0.0, abs=1e-12)
    assert m["energy_violation"] == 0.0
    assert m["energy_increase_count"] == 0
    assert m["nonfinite"] == 0


def test_mean_drift_is_measured_relative_to_the_field_rms() -> None:
    ref = np.full((1, 32), 2.0)  # RMS 2
    pred = np.stack([np.full(32, 2.0 + d) for d in (0.0, 0.2, 0.4)])[None]  # drifts 0, .2, .4
    gaps = conservation_gaps(pred, ref)
    np.testing.assert_allclose(gaps, [[0.0, 0.1, 0.2]])
    m = physics_metrics(pred, ref)
    assert m["conservation_gap"] == pytest.approx(0.1)
    assert m["conservation_gap_max"] == pytest.approx(0.2)


def test_energy_increases_are_counted_and_sized() -> None:
    ref = np.sin(2 * np.pi * X)[None]  # E0 = 0.25
    scales = [0.9, 0.8, 1.0, 0.7]  # dips, then rises to 1.0 -> rise above the minimum 0.8
    pred = np.stack([s * ref[0] for s in scales])[None]
    m = physics_metrics(pred, ref)
    e0 = energy(ref)[0]
    expected = (energy(ref)[0] * 1.0 - e0 * 0.8**2) / e0  # rise from the running min
    assert m["energy_violation"] == pytest.approx(expected)
    assert m["energy_increase_count"] == 1
    assert m["energy_increase_fraction"] == pytest.approx(1 / 4)
    # two samples: the mean and the worst differ
    both = np.concatenate([pred, 0.5 * pred], axis=0)
    m2 = physics_metrics(both, np.concatenate([ref, 0.5 * ref]))
    assert m2["energy_violation_max"] == pytest.approx(expected)
    assert m2["energy_increase_count"] == 2


def test_float_noise_is_not_an_energy_increase() -> None:
    ref = np.sin(2 * np.pi * X)[None]
    pred = np.stack([ref[0], ref[0] * (1 + 1e-9)])[None]
    assert physics_metrics(pred, ref)["energy_increase_count"] == 0


def test_nonfinite_values_are_counted_and_poison_the_checks() -> None:
    ref = np.sin(2 * np.pi * X)[None]
    pred = np.repeat(ref[:, None], 3, axis=1)
    pred[0, 2, :3] = [np.nan, np.inf, -np.inf]
    m = physics_metrics(pred, ref)
    assert m["nonfinite"] == 3
    assert m["nonfinite_fraction"] == pytest.approx(3 / pred.size)
    assert np.isnan(m["conservation_gap"]) and np.isnan(m["energy_violation"])


def test_burgers_solution_passes_the_physics_checks() -> None:
    """A real viscous Burgers solve (spectral, periodic) conserves its mean; energy decays."""
    nx, nu, dt, steps = 64, 0.05, 1e-3, 400
    k = np.fft.rfftfreq(nx, d=1 / nx) * 2 * np.pi
    u = 0.2 + np.sin(2 * np.pi * np.linspace(0, 1, nx, endpoint=False))
    frames = [u.copy()]
    for i in range(steps):
        uh = np.fft.rfft(u)
        nonlin = np.fft.rfft(0.5 * u**2) * 1j * k
        uh = (uh - dt * nonlin) / (1 + dt * nu * k**2)  # IMEX Euler
        u = np.fft.irfft(uh, n=nx)
        if (i + 1) % 100 == 0:
            frames.append(u.copy())
    traj = np.array(frames)[None]  # (1, 5, nx)
    m = physics_metrics(traj[:, 1:], traj[:, 0])
    assert m["conservation_gap_max"] < 1e-10
    assert m["energy_increase_count"] == 0
    assert m["energy_violation"] == 0.0


def test_shapes_are_checked() -> None:
    with pytest.raises(ValueError, match=r"\(N, X\)"):
        physics_metrics(np.zeros((2, 3, 4)), np.zeros((2, 5)))
