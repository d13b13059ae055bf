"""Exact viscous Burgers solution (Cole-Hopf) for ``u0 = c + A sin(2 pi x)`` on [0, 1) periodic.

    from unisim.pdes.burgers_exact import cole_hopf
    u = cole_hopf(x, t=np.linspace(0, 2, 41), nu=0.01, mean=0.3, amplitude=1.0)  # (41, len(x))

Used to verify the solver (tests, ``benchmarks/solver.py``, ``Burgers.reference``). Same
convention as the solver: ``u_t + u u_x = eps u_xx`` with ``eps = nu / pi``.

* Galilean shift: ``u(x, t) = c + v(x - c t, t)`` where v solves Burgers from
  ``v0 = A sin(2 pi x)`` (zero mean).
* Cole-Hopf: ``v = -2 eps (log phi)_x`` with ``phi`` solving the heat equation from
  ``phi0 = exp(-(1/(2 eps)) int v0) = exp(A cos(2 pi y) / (4 pi eps))``. With the heat
  kernel on the whole line (which sums all periodic images of the periodic ``phi0``) and
  ``y = x - s z``, ``s = sqrt(4 eps t)``::

      v(x, t) = sum_z w(z) (s z / t) / sum_z w(z),
      log w(z) = -z^2 + A cos(2 pi (x - s z)) / (4 pi eps).

  The weights are normalised in log space (log-sum-exp), so ``A / eps`` in the hundreds
  does not overflow. The trapezoid rule on the real line is spectrally accurate for this
  smooth, Gaussian-decaying integrand; ``dz`` resolves both the Gaussian and the
  oscillation of ``phi0`` (whose peaks are ``~ sqrt(eps / A)`` wide in y).
"""

from __future__ import annotations

import math

import numpy as np


def cole_hopf(
    x: np.ndarray,
    t: np.ndarray | float,
    nu: float,
    mean: float = 0.0,
    amplitude: float = 1.0,
    *,
    chunk: int = 64,
) -> np.ndarray:
    """u(x, t) for ``u0 = mean + amplitude * sin(2 pi x)``: shape ``(len(t), len(x))``, float64."""
    eps = nu / math.pi
    x = np.asarray(x, dtype=np.float64)
    times = np.atleast_1d(np.asarray(t, dtype=np.float64))
    out = np.empty((times.size, x.size))
    peak = abs(amplitude) / (4 * math.pi * eps)  # log phi0 varies within [-peak, peak]
    for i, ti in enumerate(times):
        xs = x - mean * ti  # the frame moving with the mean
        if ti == 0.0:
            out[i] = mean + amplitude * np.sin(2 * np.pi * xs)
            continue
        s = math.sqrt(4 * eps * ti)
        # z range: exp(-z^2) beats the largest possible ratio exp(2 peak) by e^-40
        z_max = math.sqrt(2 * peak + 40.0)
        # step: resolve exp(-z^2) (spacing <= 0.05) and phi0's peaks in z, ~sqrt(eps/A)/s wide
        width = math.sqrt(eps / max(abs(amplitude), 1e-12)) / s
        dz = min(0.05, width / 20)
        z = np.arange(-z_max, z_max + dz / 2, dz)
        for lo in range(0, x.size, chunk):
            xc = xs[lo : lo + chunk, None]
            logw = -(z**2) + amplitude * np.cos(2 * np.pi * (xc - s * z)) / (4 * np.pi * eps)
            logw -= logw.max(axis=1, keepdims=True)
            w = np.exp(logw)
            out[i, lo : lo + chunk] = mean + (w @ (s * z / ti)) / w.sum(axis=1)
    return out
