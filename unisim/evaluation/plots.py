"""Evaluation plots as PNG files (matplotlib, Agg backend: no display needed).

    paths = make_plots(out_dir, truth, pred, x, t, context=1,
                       curves={"surrogate": curve, "persistence": p_curve},
                       n_trajectories=3, n_snapshots=4)

- ``spacetime_<i>.png``: truth, prediction and |error| as (t, x) heatmaps;
- ``nrmse_vs_step.png``: nRMSE against rollout step, one line per model;
- ``snapshots_<i>.png``: u(x) at a few times, truth solid, prediction dashed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def plot_spacetime(
    path: Path, truth: np.ndarray, pred: np.ndarray, x: np.ndarray, t: np.ndarray, title: str
) -> Path:
    """truth, pred (T, X) on times t (T,) and grid x (X,) -> three heatmaps side by side."""
    plt = _pyplot()
    err = np.abs(pred - truth)
    finite = np.concatenate([truth[np.isfinite(truth)], pred[np.isfinite(pred)]])
    vmin, vmax = (float(finite.min()), float(finite.max())) if finite.size else (-1.0, 1.0)
    extent = (float(x[0]), float(x[-1]), float(t[-1]), float(t[0]))
    fig, axes = plt.subplots(1, 3, figsize=(13, 4), sharey=True)
    # fixed margins: constrained/tight layout costs seconds per figure
    fig.subplots_adjust(left=0.05, right=0.98, bottom=0.13, top=0.86, wspace=0.15)
    for ax, data, name, kw in (
        (axes[0], truth, "truth", {"cmap": "RdBu_r", "vmin": vmin, "vmax": vmax}),
        (axes[1], pred, "prediction", {"cmap": "RdBu_r", "vmin": vmin, "vmax": vmax}),
        (axes[2], err, "|error|", {"cmap": "magma"}),
    ):
        im = ax.imshow(data, aspect="auto", extent=extent, interpolation="nearest", **kw)
        ax.set_title(name)
        ax.set_xlabel("x")
        fig.colorbar(im, ax=ax)
    axes[0].set_ylabel("t")
    fig.suptitle(title)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def plot_error_curve(path: Path, curves: dict[str, np.ndarray], title: str) -> Path:
    """curves: label -> (T,) nRMSE per rollout step (step 1 = first prediction)."""
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(6, 4))
    fig.subplots_adjust(left=0.17, right=0.97, bottom=0.13, top=0.9)
    for label, curve in curves.items():
        steps = np.arange(1, len(curve) + 1)
        ax.plot(steps, curve, marker="o", markersize=3, label=label)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("rollout step")
    ax.set_ylabel("nRMSE")
    values = np.concatenate([np.asarray(c, dtype=float) for c in curves.values()] or [[]])
    if values.size and np.all(np.isfinite(values)) and np.all(values > 0):
        ax.set_yscale("log")  # errors grow over orders of magnitude along a rollout
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    ax.set_title(title)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def plot_snapshots(
    path: Path,
    truth: np.ndarray,
    pred: np.ndarray,
    x: np.ndarray,
    t: np.ndarray,
    n_times: int,
    title: str,
) -> Path:
    """truth, pred (T, X): u(x) at ``n_times`` evenly spaced predicted times."""
    plt = _pyplot()
    idx = np.unique(np.linspace(0, len(t) - 1, num=min(n_times, len(t))).round().astype(int))
    fig, ax = plt.subplots(figsize=(7, 4))
    fig.subplots_adjust(left=0.1, right=0.97, bottom=0.13, top=0.9)
    colors = plt.get_cmap("viridis")(np.linspace(0, 0.9, len(idx)))
    for color, i in zip(colors, idx, strict=True):
        ax.plot(x, truth[i], color=color, lw=1.5, label=f"t={t[i]:.3g} truth")
        ax.plot(x, pred[i], color=color, lw=1.5, ls="--", label=f"t={t[i]:.3g} pred")
    ax.set_xlabel("x")
    ax.set_ylabel("u")
    ax.legend(fontsize=7, ncol=2)
    ax.set_title(title)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def make_plots(
    out_dir: str | Path,
    truth: np.ndarray,
    pred: np.ndarray,
    x: np.ndarray,
    t: np.ndarray,
    *,
    context: int,
    curves: dict[str, np.ndarray],
    n_trajectories: int,
    n_snapshots: int,
    label: str = "",
) -> list[Path]:
    """All evaluation plots into ``out_dir``.

    truth (N, nt, X) full trajectories; pred (N, nt - context, X) rollout; t (nt,).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    t_pred = np.asarray(t)[context:]
    paths = [plot_error_curve(out / "nrmse_vs_step.png", curves, f"rollout error {label}".strip())]
    for i in range(min(n_trajectories, truth.shape[0])):
        true_i = truth[i, context:]
        name = f"trajectory {i} {label}".strip()
        pred_i = pred[i]
        paths.append(plot_spacetime(out / f"spacetime_{i}.png", true_i, pred_i, x, t_pred, name))
        snap = out / f"snapshots_{i}.png"
        paths.append(plot_snapshots(snap, true_i, pred_i, x, t_pred, n_snapshots, name))
    return paths
