"""Random initial conditions of PDEBench's ``init_multi`` family (1D Burgers).

    from unisim.data.initial import draw_initial_conditions, init_multi
    u0 = init_multi(x, n=256, rng=np.random.default_rng(0))   # (256, len(x)) float64
    ics = draw_initial_conditions(256, np.random.default_rng(0)); ics.evaluate(x, idx)  # batches

Follows ``pdebench/data_gen/data_gen_NLE/utils.py::init_multi`` sample by sample:

1. draw ``num_choose_k`` indices out of ``k_tot`` (with replacement) and sum their
   one-hot vectors into ``selected`` (an entry can be 2 when an index is drawn twice);
2. ``kk = 2 pi (1..k_tot) * selected``; ``amp ~ U(0, 1)`` and ``phs ~ U(0, 2 pi)`` for
   every one of the ``k_tot`` entries; ``u = sum_k amp_k sin(kk_k x + phs_k)``. The
   entries that were not selected have ``kk = 0`` and add the constant
   ``amp_k sin(phs_k)``: this is why the mean of u is generally non-zero;
3. with probability ``p_abs`` take ``|u|``; multiply by a random sign (+1/-1, p = 1/2);
4. with probability ``p_window`` multiply by the tanh window
   ``0.5 (tanh((x - xL)/0.01) - tanh((x - xR)/0.01))``, ``xL ~ U(0.1, 0.45)``,
   ``xR ~ U(0.55, 0.9)``.

One deliberate difference: PDEBench divides the wavenumber by ``x[-1] - x[0]``
(one cell short of the period), so its initial conditions are not quite periodic
and depend on the grid. Here the period is the domain length 1, so ``u0`` is
exactly periodic and the same function whatever grid it is sampled on.

All random numbers come from one ``numpy.random.Generator`` in a fixed order, drawn
for all samples at once: the same seed gives the same bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from unisim.config import InitialConditionConfig

WINDOW_TRANSITION = 0.01  # width of the tanh window edges (PDEBench's ``trns``)


@dataclass(frozen=True)
class InitialConditions:
    """The random draws for ``n`` initial conditions; ``evaluate`` samples them on a grid.

    Drawing everything first (a few numbers per sample) and evaluating in batches keeps
    memory small for big datasets while the bytes stay independent of the batching.
    """

    kk: np.ndarray  # (n, k_tot) angular wavenumbers, 0 for the constant terms
    amp: np.ndarray  # (n, k_tot) amplitudes
    phs: np.ndarray  # (n, k_tot) phases
    take_abs: np.ndarray  # (n,) bool
    sign: np.ndarray  # (n,) +1 or -1
    window: np.ndarray  # (n,) bool
    x_left: np.ndarray  # (n,) left window edge
    x_right: np.ndarray  # (n,) right window edge

    def __len__(self) -> int:
        return len(self.kk)

    def evaluate(self, x: np.ndarray, index: np.ndarray | slice = slice(None)) -> np.ndarray:
        """u0 of the samples ``index`` at the points ``x``: shape ``(len(index), len(x))``."""
        x = np.asarray(x, dtype=np.float64)
        kk, amp, phs = self.kk[index], self.amp[index], self.phs[index]
        u = np.einsum(
            "nk,nkx->nx", amp, np.sin(kk[:, :, None] * x[None, None, :] + phs[:, :, None])
        )
        take_abs = self.take_abs[index]
        u[take_abs] = np.abs(u[take_abs])
        u *= self.sign[index][:, None]
        window = self.window[index]
        if np.any(window):
            xl, xr = self.x_left[index][window, None], self.x_right[index][window, None]
            mask = 0.5 * (
                np.tanh((x[None, :] - xl) / WINDOW_TRANSITION)
                - np.tanh((x[None, :] - xr) / WINDOW_TRANSITION)
            )
            u[window] *= mask
        return u


def draw_initial_conditions(
    n: int, rng: np.random.Generator, ic: InitialConditionConfig | None = None
) -> InitialConditions:
    """Draw the random parameters of ``n`` initial conditions, in a fixed order."""
    ic = ic or InitialConditionConfig()
    k_tot = ic.k_tot
    # (n, k_tot): how often each candidate wavenumber was drawn (0, 1, 2, ...)
    picks = rng.integers(0, k_tot, size=(n, ic.num_choose_k))
    selected = np.zeros((n, k_tot), dtype=np.int64)
    for j in range(ic.num_choose_k):
        np.add.at(selected, (np.arange(n), picks[:, j]), 1)
    kk = 2.0 * np.pi * np.arange(1, k_tot + 1) * selected  # domain length 1
    amp = rng.uniform(0.0, 1.0, size=(n, k_tot))
    phs = rng.uniform(0.0, 2.0 * np.pi, size=(n, k_tot))
    take_abs = rng.uniform(size=n) < ic.p_abs
    sign = np.where(rng.uniform(size=n) < 0.5, 1.0, -1.0)
    window = rng.uniform(size=n) < ic.p_window
    x_left = rng.uniform(0.1, 0.45, size=n)
    x_right = rng.uniform(0.55, 0.9, size=n)
    return InitialConditions(kk, amp, phs, take_abs, sign, window, x_left, x_right)


def init_multi(
    x: np.ndarray,
    n: int,
    rng: np.random.Generator,
    ic: InitialConditionConfig | None = None,
) -> np.ndarray:
    """``n`` initial conditions sampled at the points ``x`` (in [0, 1)): shape ``(n, len(x))``."""
    return draw_initial_conditions(n, rng, ic).evaluate(x)
