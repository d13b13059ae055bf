"""Metrics agree with direct transcriptions of their definitions (PDEBench, 2024 fix)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from unisim.evaluation import metrics as M
from unisim.evaluation.engine import evaluate_persistence, score_predictions


def nrmse_by_definition(truth: np.ndarray, pred: np.ndarray, context: int) -> float:
    """Loops, no vectorisation: per sample, per predicted step, RMSE / RMS over x; then mean."""
    n, nt, nx = truth.shape
    values = []
    for i in range(n):
        for t in range(context, nt):  # context (input) steps excluded
            err = math.sqrt(sum((pred[i, t - context, j] - truth[i, t, j]) ** 2 for j in range(nx)))
            rms = math.sqrt(sum(truth[i, t, j] ** 2 for j in range(nx)))
            values.append(err / rms)  # the 1/nx inside both square roots cancels
    return sum(values) / len(values)


finite = st.floats(-10, 10, allow_nan=False, width=32).filter(lambda v: abs(v) > 1e-3)


@settings(max_examples=25, deadline=None)
@given(
    shape=st.tuples(st.integers(1, 4), st.integers(2, 6), st.integers(2, 8)),
    context=st.integers(1, 3),
    data=st.data(),
)
def test_nrmse_matches_transcription(shape, context, data) -> None:
    n, nt, nx = shape
    context = min(context, nt - 1)
    truth = data.draw(arrays(np.float64, (n, nt, nx), elements=finite))
    pred = data.draw(arrays(np.float64, (n, nt - context, nx), elements=finite))
    scores = score_predictions(truth, pred, pred, context)
    expected = nrmse_by_definition(truth, pred, context)
    assert scores.metrics["final_nrmse"] == pytest.approx(expected, rel=1e-9)
    assert scores.metrics["one_step_nrmse"] == pytest.approx(expected, rel=1e-9)


def test_nrmse_normalises_per_sample_and_step() -> None:
    # Sample 0 is 100x larger than sample 1; both are off by 10% at every point.
    # A global normalisation would give ~0.1 as well, so make the error uneven:
    # sample 1 is off by 50%. Per-sample normalisation gives the mean 0.3;
    # dividing the pooled RMSE by the pooled RMS would be dominated by sample 0.
    truth = np.ones((2, 3, 4))
    truth[0] *= 100.0
    pred = truth.copy()
    pred[0] *= 1.1
    pred[1] *= 1.5
    assert M.nrmse(pred, truth) == pytest.approx(0.3)
    pooled = np.sqrt(np.mean((pred - truth) ** 2)) / np.sqrt(np.mean(truth**2))
    assert abs(pooled - 0.3) > 0.1
    np.testing.assert_allclose(M.nrmse_per_step(pred, truth), [0.3, 0.3, 0.3])
    np.testing.assert_allclose(M.nrmse_per_sample(pred, truth), [0.1, 0.5])


def test_context_frames_do_not_count() -> None:
    rng = np.random.default_rng(0)
    truth = rng.normal(size=(3, 5, 16))
    pred = truth[:, 2:].copy()  # perfect on the predicted steps
    truth_with_wild_context = truth.copy()
    truth_with_wild_context[:, :2] = 1e6
    scores = score_predictions(truth_with_wild_context, pred, pred, context=2)
    assert scores.metrics["final_nrmse"] == 0.0
    assert scores.rollout_curve.shape == (3,)
    with pytest.raises(ValueError, match="do not match"):
        score_predictions(truth, truth[:, 1:], truth[:, 1:], context=2)


def test_rmse_crmse_max_error_and_fourier() -> None:
    rng = np.random.default_rng(1)
    truth = rng.normal(size=(4, 3, 32))
    pred = truth + 0.5  # a constant offset: error only in the spatial mean (mode 0)
    assert M.rmse(pred, truth) == pytest.approx(0.5)
    assert M.crmse(pred, truth) == pytest.approx(0.5)  # the spatial mean is off by 0.5
    assert M.max_error(pred, truth) == pytest.approx(0.5)
    bands = M.frmse_bands(pred, truth)
    # the offset lives in mode 0 only: |rfft| = 0.5 * nx there, /nx -> 0.5, mean over 4 low modes
    assert bands["low"] == pytest.approx(0.5 / 4)
    assert bands["mid"] == pytest.approx(0.0, abs=1e-12)
    assert bands["high"] == pytest.approx(0.0, abs=1e-12)

    wiggle = truth.copy()
    wiggle[..., ::2] += 1.0
    wiggle[..., 1::2] -= 1.0  # zero-mean error: invisible to cRMSE
    assert M.crmse(wiggle, truth) == pytest.approx(0.0, abs=1e-12)
    assert M.rmse(wiggle, truth) == pytest.approx(1.0)
    assert M.frmse_bands(wiggle, truth)["high"] > 0

    spike = truth.copy()
    spike[2, 1, 7] += 3.0
    assert M.max_error(spike, truth) == pytest.approx(3.0)
    np.testing.assert_allclose(M.max_error_per_step(spike, truth), [0.0, 3.0, 0.0], atol=1e-12)


def test_shapes_are_checked() -> None:
    with pytest.raises(ValueError, match=r"\(N, T, X\)"):
        M.nrmse(np.zeros((2, 3)), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="must both be"):
        M.rmse(np.zeros((2, 3, 4)), np.zeros((2, 3, 5)))


def test_persistence_baseline_scores_like_a_model() -> None:
    t = np.linspace(0, 1, 6)[None, :, None]
    x = np.linspace(0, 1, 8, endpoint=False)[None, None, :]
    traj = np.sin(2 * np.pi * x) * np.exp(-t) + 0 * t  # decaying, mean zero
    scores = evaluate_persistence(traj, context=1)
    target = traj[:, 1:]
    expected = M.nrmse(np.repeat(traj[:, :1], 5, axis=1), target)
    assert scores.metrics["final_nrmse"] == pytest.approx(expected)
    # one-step persistence predicts frame t from frame t - 1
    assert scores.metrics["one_step_nrmse"] == pytest.approx(M.nrmse(traj[:, :-1], target))
    assert scores.metrics["final_nrmse"] > scores.metrics["one_step_nrmse"]
    assert scores.metrics["conservation_gap"] == pytest.approx(0.0, abs=1e-12)
    assert scores.metrics["nonfinite"] == 0
