"""Uncertainty of nRMSE figures: bootstrap intervals over seeds and trajectories, paired tests.

    errs = np.array([[...64 per-trajectory nRMSEs...], [...], [...]])   # (seeds, trajectories)
    s = summarize_seeds(errs)          # mean, std over seeds, 95% interval, worst decile
    s.mean, s.low, s.high
    d = paired_difference(cand, champ)  # per-trajectory errors on the SAME trajectories
    d.better                           # True only when the candidate is better beyond noise
    r = ratio_interval(errs_a, errs_b)  # mean(a) / mean(b) with a 95% interval

All resampling is seeded (``seed``), so a report can be reproduced exactly. Two
sources of noise are resampled together: which seeds were trained (training noise)
and which trajectories were drawn (test-set noise); trajectories are resampled with
the same indices for every seed and for both sides of a comparison, because they are
the same trajectories (a paired design). Pure numpy; Wilcoxon's signed-rank test
comes from scipy.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

DEFAULT_RESAMPLES = 2000
DEFAULT_LEVEL = 0.95


def _matrix(errors: Any) -> np.ndarray:
    """(seeds, trajectories) float64; a 1-D array is one seed."""
    arr = np.asarray(errors, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or 0 in arr.shape:
        raise ValueError(f"errors must be (seeds, trajectories), got shape {arr.shape}")
    return arr


def _bounds(samples: np.ndarray, level: float) -> tuple[float, float]:
    tail = (1.0 - level) / 2.0
    lo, hi = np.quantile(samples, [tail, 1.0 - tail])
    return float(lo), float(hi)


def worst_fraction_mean(values: Any, fraction: float = 0.1) -> float:
    """Mean of the worst ``fraction`` of the values (at least one): what averages hide."""
    v = np.sort(np.asarray(values, dtype=np.float64).ravel())[::-1]
    k = max(1, int(np.ceil(fraction * v.size)))
    return float(np.mean(v[:k]))


def bootstrap_means(
    errors: Any, *, resamples: int = DEFAULT_RESAMPLES, seed: int = 0
) -> np.ndarray:
    """(resamples,) bootstrap replicates of the grand mean, seeds and trajectories resampled."""
    e = _matrix(errors)
    rng = np.random.default_rng(seed)
    s_idx = rng.integers(0, e.shape[0], size=(resamples, e.shape[0]))
    t_idx = rng.integers(0, e.shape[1], size=(resamples, e.shape[1]))
    # mean over the resampled seeds of the mean over the resampled trajectories
    per_seed = e[:, t_idx].mean(axis=2)  # (seeds, resamples)
    return per_seed[s_idx, np.arange(resamples)[:, None]].mean(axis=1)


@dataclass(frozen=True)
class SeedSummary:
    """A figure with its uncertainty: what README and report.json quote."""

    mean: float  # grand mean over seeds and trajectories
    std: float  # standard deviation of the per-seed means (ddof=1; 0 for one seed)
    low: float  # bootstrap interval over seeds and trajectories
    high: float
    level: float
    per_seed: list[float]
    worst_decile: float  # mean of the worst 10% of (seed, trajectory) errors
    n_seeds: int
    n_trajectories: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def summarize_seeds(
    errors: Any,
    *,
    level: float = DEFAULT_LEVEL,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> SeedSummary:
    """Mean, spread and a bootstrap interval of per-trajectory errors (seeds, trajectories)."""
    e = _matrix(errors)
    per_seed = e.mean(axis=1)
    low, high = _bounds(bootstrap_means(e, resamples=resamples, seed=seed), level)
    return SeedSummary(
        mean=float(e.mean()),
        std=float(per_seed.std(ddof=1)) if e.shape[0] > 1 else 0.0,
        low=low,
        high=high,
        level=level,
        per_seed=[float(v) for v in per_seed],
        worst_decile=worst_fraction_mean(e),
        n_seeds=int(e.shape[0]),
        n_trajectories=int(e.shape[1]),
    )


@dataclass(frozen=True)
class PairedTest:
    """Candidate minus reference on the same trajectories (negative: the candidate is better)."""

    method: str  # bootstrap | wilcoxon
    mean_difference: float
    low: float  # bootstrap interval of the mean difference (both methods report it)
    high: float
    level: float
    p_value: float | None  # one-sided, H1: candidate better (wilcoxon only)
    better: bool  # better beyond noise at ``level``
    n: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def paired_difference(
    candidate: Any,
    reference: Any,
    *,
    method: str = "bootstrap",
    level: float = DEFAULT_LEVEL,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> PairedTest:
    """Is ``candidate`` (per-trajectory errors) lower than ``reference`` beyond noise?

    bootstrap: better when the whole interval of the mean difference is below 0.
    wilcoxon: better when the one-sided signed-rank p-value is below ``1 - level``
    (and the mean difference is negative). Both report the bootstrap interval.
    """
    a = np.asarray(candidate, dtype=np.float64).ravel()
    b = np.asarray(reference, dtype=np.float64).ravel()
    if a.shape != b.shape or a.size == 0:
        raise ValueError(f"paired errors need the same trajectories: {a.shape} vs {b.shape}")
    diff = a - b
    low, high = _bounds(bootstrap_means(diff, resamples=resamples, seed=seed), level)
    mean = float(diff.mean())
    p_value = None
    if method == "bootstrap":
        better = high < 0.0
    elif method == "wilcoxon":
        from scipy.stats import wilcoxon

        if np.all(diff == 0):
            p_value = 1.0
        else:
            p_value = float(wilcoxon(a, b, alternative="less", zero_method="wilcox").pvalue)
        better = p_value < (1.0 - level) and mean < 0.0
    else:
        raise ValueError(f"paired test {method!r}: use bootstrap or wilcoxon")
    return PairedTest(method, mean, low, high, level, p_value, bool(better), int(a.size))


@dataclass(frozen=True)
class RatioInterval:
    """mean(a) / mean(b) with a bootstrap interval (seeds and shared trajectories)."""

    ratio: float
    low: float
    high: float
    level: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def ratio_interval(
    a: Any,
    b: Any,
    *,
    level: float = DEFAULT_LEVEL,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> RatioInterval:
    """Ratio of grand means of two models' errors (seeds, trajectories) on the same trajectories.

    Each replicate resamples the trajectories once (shared by both models: paired) and
    each model's seeds independently.
    """
    ea, eb = _matrix(a), _matrix(b)
    if ea.shape[1] != eb.shape[1]:
        raise ValueError(f"ratio needs the same trajectories: {ea.shape[1]} vs {eb.shape[1]}")
    rng = np.random.default_rng(seed)
    t_idx = rng.integers(0, ea.shape[1], size=(resamples, ea.shape[1]))
    sa = rng.integers(0, ea.shape[0], size=(resamples, ea.shape[0]))
    sb = rng.integers(0, eb.shape[0], size=(resamples, eb.shape[0]))
    rows = np.arange(resamples)[:, None]
    ma = ea[:, t_idx].mean(axis=2)[sa, rows].mean(axis=1)
    mb = eb[:, t_idx].mean(axis=2)[sb, rows].mean(axis=1)
    low, high = _bounds(ma / mb, level)
    return RatioInterval(float(ea.mean() / eb.mean()), low, high, level)
