"""Bootstrap intervals and paired tests on per-trajectory errors (pure numpy, seeded)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from unisim.evaluation.statistics import (
    paired_difference,
    ratio_interval,
    summarize_seeds,
    worst_fraction_mean,
)


def errors(seed: int, shape=(3, 64), scale=0.03) -> np.ndarray:
    return np.random.default_rng(seed).lognormal(np.log(scale), 0.5, shape)


def test_summary_mean_std_interval_and_worst_decile():
    e = errors(0)
    s = summarize_seeds(e)
    assert s.mean == pytest.approx(e.mean())
    assert s.per_seed == pytest.approx(list(e.mean(axis=1)))
    assert s.std == pytest.approx(np.std(e.mean(axis=1), ddof=1))
    assert s.low < s.mean < s.high and s.level == 0.95
    assert s.worst_decile == pytest.approx(np.sort(e.ravel())[::-1][:20].mean())  # ceil(19.2)
    assert summarize_seeds(e) == s  # seeded: reproducible
    one = summarize_seeds(e[0])
    assert one.n_seeds == 1 and one.std == 0.0


def test_interval_widens_with_fewer_trajectories_and_covers_the_truth():
    # the interval of the mean of N draws covers the population mean about 95% of the time
    truth = np.exp(np.log(0.03) + 0.5**2 / 2)
    hits = [
        summarize_seeds(errors(k, (2, 64)), resamples=500).low
        <= truth
        <= summarize_seeds(errors(k, (2, 64)), resamples=500).high
        for k in range(40)
    ]
    assert sum(hits) >= 32  # binomial(40, 0.95): >= 32 with probability > 0.999
    wide = summarize_seeds(errors(1, (2, 8)))
    narrow = summarize_seeds(errors(1, (2, 256)))
    assert wide.high - wide.low > narrow.high - narrow.low


def test_paired_test_refuses_noise_and_accepts_a_clear_gain():
    champ = errors(2, (64,))
    rng = np.random.default_rng(3)
    same = champ + rng.normal(0, 1e-3 * champ.mean(), champ.shape)  # itself plus noise
    for method in ("bootstrap", "wilcoxon"):
        noise = paired_difference(same, champ, method=method)
        assert not noise.better and noise.low < 0 < noise.high, noise
        gain = paired_difference(0.8 * champ, champ, method=method)
        assert gain.better and gain.high < 0 and gain.mean_difference < 0, gain
    assert paired_difference(champ, champ, method="wilcoxon").p_value == 1.0
    with pytest.raises(ValueError, match="same trajectories"):
        paired_difference(champ[:10], champ)


def test_ratio_interval_pairs_trajectories():
    base = errors(4)
    r = ratio_interval(0.7 * base, base)
    assert r.ratio == pytest.approx(0.7) and r.low < 0.7 < r.high
    sharp = ratio_interval(0.7 * base[:1], base[:1])  # one seed each: only trajectories vary
    assert sharp.low == pytest.approx(0.7) and sharp.high == pytest.approx(0.7)


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.floats(0.001, 10.0), min_size=1, max_size=40),
    st.floats(0.01, 0.5),
)
def test_worst_fraction_is_at_least_the_mean(values, fraction):
    assert worst_fraction_mean(values, fraction) >= np.mean(values) - 1e-12
    assert worst_fraction_mean(values, fraction) <= max(values) + 1e-12
