"""Predictions for evaluation: teacher-forced one-step and autoregressive rollouts.

    pred = predict_rollout(model, traj, context=1, cond=cond)   # (N, nt - 1, X)
    step = predict_one_step(model, traj, context=1, cond=cond)  # (N, nt - 1, X)
    base = persistence_rollout(traj, context=1)              # u(t) = u(t0) for all t

``traj`` is a float array (N, nt, X) of true trajectories, ``cond`` (N, K) their
conditioning vectors (``pde.conditioning(coeffs)``) or None. A model maps a
window ``(B, context, X)`` (and ``cond`` (B, K)) to the next frame ``(B, X)``. The
rollout starts from the first ``context`` true frames and feeds its own
predictions back; one-step prediction always feeds true frames. Both return the
predicted steps only (context excluded), in float32 numpy, under
``torch.inference_mode``.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
from typing import Any

import numpy as np

log = logging.getLogger(__name__)


def pick_device(name: str = "auto") -> Any:
    """``auto`` -> cuda if available, else mps, else cpu."""
    import torch

    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def _takes_cond(model: Any) -> bool:
    try:
        params = inspect.signature(model.forward).parameters
    except (TypeError, ValueError, AttributeError):
        return True
    return bool({"cond", "nu"} & set(params)) or any(
        p.kind == p.VAR_KEYWORD for p in params.values()
    )


class Stepper:
    """One model step ``(B, C, X), (B, K) | None -> (B, X)`` that copes with exported models.

    MLflow 3 logs PyTorch models as ``torch.export`` programs by default: they
    refuse ``.eval()``, take no ``cond`` (their default is baked in), and an
    export traced on a batch of one accepts only batches of one. Such a model
    runs here one sample at a time, which is slower but gives the same numbers.
    """

    def __init__(self, model: Any, device: Any) -> None:
        import torch

        self.device = torch.device(device)
        try:
            model = model.to(self.device)
        except (NotImplementedError, RuntimeError):
            self.device = torch.device("cpu")
        with contextlib.suppress(NotImplementedError):  # an exported program refuses .eval()
            model.eval()
        self.model = model
        self.takes_cond = _takes_cond(model)
        self.dtype = next(
            (p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32
        )
        self.one_by_one = False

    def tensor(self, array: np.ndarray) -> Any:
        import torch

        return torch.as_tensor(np.asarray(array), device=self.device).to(self.dtype)

    def cond_tensor(self, cond: np.ndarray | None, lo: int, hi: int, repeat: int = 1) -> Any:
        """Rows ``lo:hi`` of ``cond`` (N, K) as a tensor, each repeated ``repeat`` times."""
        import torch

        if cond is None:
            return None
        rows = self.tensor(np.asarray(cond)[lo:hi])
        return torch.repeat_interleave(rows, repeat, dim=0) if repeat > 1 else rows

    def _call(self, window: Any, cond: Any) -> Any:
        if self.takes_cond and cond is not None:
            return self.model(window, cond)
        return self.model(window)

    def __call__(self, window: Any, cond: Any = None) -> Any:
        import torch

        if self.one_by_one:
            out = torch.cat(
                [self._call(window[i : i + 1], None if cond is None else cond[i : i + 1])
                 for i in range(window.shape[0])]
            )  # fmt: skip
        else:
            try:
                out = self._call(window, cond)
            except (AssertionError, RuntimeError) as exc:
                if window.shape[0] == 1 or ".size()[0]" not in str(exc):
                    raise  # not the batch-of-one limitation of an exported model
                log.warning("model accepts only batches of one (exported on one sample)")
                self.one_by_one = True
                return self(window, cond)
        if tuple(out.shape) != (window.shape[0], window.shape[-1]):
            raise ValueError(f"model returned {tuple(out.shape)} for input {tuple(window.shape)}")
        return out


def _check(traj: np.ndarray, context: int) -> None:
    if traj.ndim != 3:
        raise ValueError(f"trajectories must be (N, nt, X), got {traj.shape}")
    if not 1 <= context < traj.shape[1]:
        raise ValueError(f"context={context} leaves no step to predict (nt={traj.shape[1]})")


def predict_rollout(
    model: Any,
    traj: np.ndarray,
    *,
    context: int,
    cond: np.ndarray | None = None,
    batch_size: int = 64,
    device: Any = "cpu",
) -> np.ndarray:
    """Autoregressive rollout from the first ``context`` true frames: (N, nt - context, X)."""
    import torch

    from unisim.models import rollout  # the same rollout the multi-step training loss uses

    _check(traj, context)
    step = model if isinstance(model, Stepper) else Stepper(model, device)
    steps = traj.shape[1] - context
    out = np.empty((traj.shape[0], steps, traj.shape[2]), dtype=np.float32)
    with torch.inference_mode():
        for lo in range(0, traj.shape[0], batch_size):
            window = step.tensor(traj[lo : lo + batch_size, :context])  # (B, C, X)
            c = step.cond_tensor(cond, lo, lo + batch_size)  # (B, K) | None
            pred = rollout(step, window, steps, c)  # (B, steps, X)
            out[lo : lo + batch_size] = pred.float().cpu().numpy()
    return out


def predict_one_step(
    model: Any,
    traj: np.ndarray,
    *,
    context: int,
    cond: np.ndarray | None = None,
    batch_size: int = 64,
    device: Any = "cpu",
) -> np.ndarray:
    """Teacher-forced next-step predictions from true windows: (N, nt - context, X)."""
    import torch

    _check(traj, context)
    step = model if isinstance(model, Stepper) else Stepper(model, device)
    n, nt, nx = traj.shape
    steps = nt - context
    out = np.empty((n, steps, nx), dtype=np.float32)
    with torch.inference_mode():
        for lo in range(0, n, batch_size):
            chunk = step.tensor(traj[lo : lo + batch_size])  # (B, nt, X)
            b = chunk.shape[0]
            # all windows of the chunk at once: (B, steps, C, X) -> (B * steps, C, X)
            windows = chunk.unfold(1, context, 1)[:, :steps].permute(0, 1, 3, 2)
            flat = windows.reshape(b * steps, context, nx)
            pred = step(flat, step.cond_tensor(cond, lo, lo + b, repeat=steps))
            out[lo : lo + b] = pred.reshape(b, steps, nx).float().cpu().numpy()
    return out


def persistence_rollout(traj: np.ndarray, *, context: int) -> np.ndarray:
    """The persistence baseline: every predicted frame is the last true input frame."""
    _check(traj, context)
    steps = traj.shape[1] - context
    last = np.asarray(traj[:, context - 1 : context], dtype=np.float32)
    return np.repeat(last, steps, axis=1)


def persistence_one_step(traj: np.ndarray, *, context: int) -> np.ndarray:
    """Persistence one step ahead: the prediction of frame t is frame t - 1."""
    _check(traj, context)
    return np.asarray(traj[:, context - 1 : -1], dtype=np.float32)
