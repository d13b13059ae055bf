"""Fourier pseudo-spectral ETDRK4 on the periodic unit interval, shared by the stiff families.

    from unisim.pdes.spectral import Dealiased, LinearTable, etdrk4_step
    grid = Dealiased(batch, n)                      # modes k = 2 pi j, 0 <= j < n/3
    table = LinearTable(lins, rows)                 # lins (U, K): one linear operator per
    coeffs = table.coefficients(h)                  #   distinct coefficient row; rows (B,)
    vhat = etdrk4_step(vhat, coeffs, nonlinear)     # (B, K) complex -> (B, K)

For ``v_t = L v + N(v)`` with a diagonal (in Fourier space) stiff linear part ``L`` and a
quadratic nonlinearity ``N``. Method (Kassam & Trefethen 2005, "Fourth-order
time-stepping for stiff PDEs", after Cox & Matthews 2002):

* ETDRK4 is exact for the linear part; its phi-function coefficients come from a contour
  integral on a circle of ``CONTOUR_POINTS`` points around each ``h L`` (no cancellation
  error for small ``h L``, no division by zero at ``L = 0``);
* the quadratic term is formed on the n-point grid and truncated to ``j < n/3`` (the
  2/3 rule: products of kept modes never alias onto kept modes);
* a batch of trajectories with different coefficients has one linear operator per
  distinct coefficient row: ``LinearTable`` computes the phi-functions once per distinct
  row and step size, and hands out ``(B, K)`` arrays (or ``(K,)`` when all rows agree, so a
  single-coefficient batch runs the same arithmetic, bit for bit, as before per-trajectory
  coefficients existed).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

CONTOUR_POINTS = 32  # points on the contour for the ETDRK4 phi-functions

Coefficients = tuple[np.ndarray, ...]  # (E, E2, Q, f1, f2, f3), each (K,) or (B, K)


def etdrk4_coefficients(lin: np.ndarray, h: float, points: int = CONTOUR_POINTS) -> Coefficients:
    """ETDRK4 coefficients ``(E, E2, Q, f1, f2, f3)`` for the diagonal linear part ``lin`` (K,).

    The phi-functions are averaged over a circle of radius 1 around each ``h * lin``
    (Kassam & Trefethen, eq. 2.5); ``lin`` is real here, so the upper half circle and
    the real part suffice.
    """
    r = np.exp(1j * np.pi * (np.arange(1, points + 1) - 0.5) / points)
    lr = h * lin[:, None] + r[None, :]  # (K, points)
    elr = np.exp(lr)
    q = h * np.real(np.mean((np.exp(lr / 2) - 1) / lr, axis=1))
    f1 = h * np.real(np.mean((-4 - lr + elr * (4 - 3 * lr + lr**2)) / lr**3, axis=1))
    f2 = h * np.real(np.mean((2 + lr + elr * (lr - 2)) / lr**3, axis=1))
    f3 = h * np.real(np.mean((-4 - 3 * lr - lr**2 + elr * (4 - lr)) / lr**3, axis=1))
    return np.exp(h * lin), np.exp(h * lin / 2), q, f1, f2, f3


class LinearTable:
    """ETDRK4 coefficients for a batch whose rows use one of ``U`` linear operators.

    ``lins`` (U, K) real; ``rows`` (B,) picks each trajectory's operator. Coefficients are
    cached by step size (a solve reuses a handful of step sizes).
    """

    def __init__(self, lins: np.ndarray, rows: np.ndarray):
        self.lins = np.atleast_2d(lins)
        self.rows = np.asarray(rows)
        self._cache: dict[float, Coefficients] = {}

    def coefficients(self, h: float) -> Coefficients:
        if h not in self._cache:
            per_op = [etdrk4_coefficients(lin, h) for lin in self.lins]
            if len(per_op) == 1:
                self._cache[h] = per_op[0]  # (K,): broadcasts over the batch
            else:
                self._cache[h] = tuple(
                    np.stack([c[i] for c in per_op])[self.rows] for i in range(6)
                )  # (B, K) each
        return self._cache[h]


def unique_rows(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows of ``values`` (B, C) and, for each input row, the index of its row."""
    distinct, rows = np.unique(np.asarray(values, dtype=np.float64), axis=0, return_inverse=True)
    return distinct, rows.reshape(-1)


class Dealiased:
    """Wavenumbers and work buffers for a batch ``(B, n)`` with 2/3-rule dealiasing."""

    def __init__(self, batch: int, n: int):
        self.n = n
        # 2/3 rule: keep j < n/3, so products (j1 + j2 < 2n/3) never alias onto kept modes
        self.modes = (n - 1) // 3 + 1
        self.k = 2.0 * np.pi * np.arange(self.modes)  # (K,) angular wavenumbers on [0, 1)
        self.pad = np.zeros((batch, n // 2 + 1), dtype=np.complex128)

    def to_hat(self, v: np.ndarray) -> np.ndarray:
        """Grid (B, n) -> kept Fourier modes (B, K)."""
        return np.fft.rfft(v, axis=-1)[:, : self.modes]

    def to_grid(self, vhat: np.ndarray) -> np.ndarray:
        """Kept modes (B, K) -> grid (B, n), the higher modes zero."""
        self.pad[:, : self.modes] = vhat
        return np.fft.irfft(self.pad, n=self.n, axis=-1)

    def square_hat(self, vhat: np.ndarray) -> np.ndarray:
        """FFT of v^2, dealiased: (B, K) -> (B, K)."""
        v = self.to_grid(vhat)
        np.multiply(v, v, out=v)
        return np.fft.rfft(v, axis=-1)[:, : self.modes]


def etdrk4_step(
    v: np.ndarray, coeffs: Coefficients, nonlinear: Callable[[np.ndarray], np.ndarray]
) -> np.ndarray:
    """One ETDRK4 step (Cox & Matthews; Kassam & Trefethen's formulation): (B, K) -> (B, K)."""
    e, e2, q, f1, f2, f3 = coeffs
    nv = nonlinear(v)
    a = e2 * v + q * nv
    na = nonlinear(a)
    b = e2 * v + q * na
    nb = nonlinear(b)
    c = e2 * a + q * (2 * nb - nv)
    nc = nonlinear(c)
    return e * v + f1 * nv + 2 * f2 * (na + nb) + f3 * nc
