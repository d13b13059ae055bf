"""PDEBench's ``init_multi`` initial conditions, shared by the three 1D PDE plug-ins.

    from unisim.pdes.initial import InitMulti, draw_initial_conditions, init_multi
    u0 = init_multi(x, n=256, rng=np.random.default_rng(0))   # (256, len(x)) float64
    ics = draw_initial_conditions(256, np.random.default_rng(0), InitMulti(normalize=True))
    ics.evaluate(x, idx)                                       # (len(idx), len(x)), in batches

Follows ``pdebench/data_gen/data_gen_NLE/utils.py::init_multi`` sample by sample (all
three 1D families call it with ``k_tot=4``: ``BurgersEq/burgers_multi_solution_Hydra.py``,
``AdvectionEq/advection_multi_solution_Hydra.py``,
``ReactionDiffusionEq/reaction_diffusion_multi_solution_Hydra.py``):

1. draw ``num_choose_k`` indices out of ``k_tot`` (with replacement) and sum their
   one-hot vectors into ``selected`` (an entry can be 2 when an index is drawn twice);
2. ``kk = 2 pi (1..k_tot) * selected``; ``amp ~ U(0, 1)`` and ``phs ~ U(0, 2 pi)`` for
   every one of the ``k_tot`` entries; ``u = sum_k amp_k sin(kk_k x + phs_k)``. The
   entries that were not selected have ``kk = 0`` and add the constant
   ``amp_k sin(phs_k)``: this is why the mean of u is generally non-zero;
3. with probability ``p_abs`` take ``|u|``; multiply by a random sign (+1/-1, p = 1/2);
4. with probability ``p_window`` multiply by the tanh window
   ``0.5 (tanh((x - xL)/0.01) - tanh((x - xR)/0.01))``, ``xL ~ U(0.1, 0.45)``,
   ``xR ~ U(0.55, 0.9)``;
5. ``normalize`` (PDEBench's ``if_norm=True``, used for reaction-diffusion only):
   ``u -= min_x u; u /= max_x u``, so u0 spans [0, 1]; min and max are taken over the
   points the sample is evaluated on, as PDEBench does.

One deliberate difference: PDEBench divides the wavenumber by ``x[-1] - x[0]``
(one cell short of the period), so its initial conditions are not quite periodic
and depend on the grid. Here the period is the domain length 1, so ``u0`` is
exactly periodic and the same function whatever grid it is sampled on (step 5 aside).

All random numbers come from one ``numpy.random.Generator`` in a fixed order, drawn
for all samples at once: the same seed gives the same bytes (the same bytes as
``unisim.data.initial`` before it moved here).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

from pydantic import Field

from unisim.pdes.base import Spec

if TYPE_CHECKING:
    import numpy as np

WINDOW_TRANSITION = 0.01  # width of the tanh window edges (PDEBench's ``trns``)


class InitMulti(Spec):
    """PDEBench ``init_multi``: sum of sinusoids, optional |.|, sign flip, tanh window."""

    kind: Literal["init_multi"] = "init_multi"  # room for other families of initial data
    k_tot: int = Field(4, ge=1)  # candidate wavenumbers 1..k_tot
    num_choose_k: int = Field(2, ge=1)  # how many of them are active
    p_abs: float = Field(0.1, ge=0, le=1)  # probability of taking |u|
    p_window: float = Field(0.1, ge=0, le=1)  # probability of a tanh window
    normalize: bool = False  # rescale each sample to span [0, 1] (reaction-diffusion)

    def jump_bound(self) -> float:
        """Peak-to-peak of the active sinusoids at full amplitude: ``2 num_choose_k``.

        A nominal bound for checks made before any sample exists (|u| and windows can
        exceed it in rare samples; the store measures the drawn ones)."""
        return 1.0 if self.normalize else 2.0 * self.num_choose_k


class InitMultiSettings(Protocol):
    """What the draws read: ``InitMulti`` or the legacy ``unisim.config.InitialConditionConfig``."""

    k_tot: int
    num_choose_k: int
    p_abs: float
    p_window: float


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
    normalize: bool = False  # rescale each sample to [0, 1] after evaluating

    def __len__(self) -> int:
        return len(self.kk)

    def evaluate(self, x: np.ndarray, index: np.ndarray | slice = slice(None)) -> np.ndarray:
        """u0 of the samples ``index`` at the points ``x``: shape ``(len(index), len(x))``."""
        import numpy as np

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
        if self.normalize:
            # PDEBench's if_norm: shift to min 0, scale to max 1 (a constant sample stays 0)
            u -= u.min(axis=1, keepdims=True)
            top = u.max(axis=1, keepdims=True)
            u /= np.where(top > 0, top, 1.0)
        return u


def draw_initial_conditions(
    n: int, rng: np.random.Generator, ic: InitMultiSettings | None = None
) -> InitialConditions:
    """Draw the random parameters of ``n`` initial conditions, in a fixed order."""
    import numpy as np

    ic = ic or InitMulti()
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
    normalize = bool(getattr(ic, "normalize", False))
    return InitialConditions(kk, amp, phs, take_abs, sign, window, x_left, x_right, normalize)


def init_multi(
    x: np.ndarray,
    n: int,
    rng: np.random.Generator,
    ic: InitMultiSettings | None = None,
) -> np.ndarray:
    """``n`` initial conditions sampled at the points ``x`` (in [0, 1)): shape ``(n, len(x))``."""
    return draw_initial_conditions(n, rng, ic).evaluate(x)
