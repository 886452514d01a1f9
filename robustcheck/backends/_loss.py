"""The gradient of the classification loss J with respect to the model's outputs.

FGSM needs only the *sign* of ∇ₓJ, and each sample's ∇ₓJ is linear in that sample's
dJ/d(scores). So we compute dJ/d(scores) exactly in float64 and rescale each sample by a
positive factor so its largest entry is 1 before back-propagating through the float32 model.
A float32 (or even a plain float64) cross-entropy rounds these terms to zero on confidently
classified samples, leaving FGSM with nothing to follow.

For logits z and label y (cross-entropy): dJ/dz_j = p_j for j ≠ y and dJ/dz_y = -Σ_{j≠y} p_j,
where the true-class term is summed from the others instead of computed as p_y - 1 (which is 0
once p_y rounds to 1). For probabilities p (NLL of log p): dJ/dp = -1/p_y on the true class only.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from robustcheck.backends.base import GradientResult
from robustcheck.backends.output import OutputKind


def output_gradient(scores: torch.Tensor, y: torch.Tensor, kind: OutputKind) -> torch.Tensor:
    """Per-sample rescaled dJ/d(scores) in float64, shape ``[N, C]``; rows of zeros stay zero."""
    scores = scores.detach().to(torch.float64)
    rows = torch.arange(scores.shape[0])
    if kind is OutputKind.PROBABILITIES:
        grad = torch.zeros_like(scores)
        grad[rows, y] = -1.0
        return grad
    probs = torch.softmax(scores, dim=1)
    probs[rows, y] = 0.0
    grad = probs.clone()
    grad[rows, y] = -probs.sum(dim=1)
    scale = grad.abs().amax(dim=1, keepdim=True)
    grad = torch.where(scale > 0, grad / torch.where(scale > 0, scale, 1.0), grad)
    return torch.nan_to_num(grad, nan=0.0, posinf=0.0, neginf=0.0)  # NaN scores: no direction


def input_gradient(
    x: torch.Tensor, scores: torch.Tensor, y: torch.Tensor, kind: OutputKind
) -> torch.Tensor:
    """∇ₓJ up to a positive per-sample factor, by one backward pass from ``scores`` to ``x``."""
    grad_scores = output_gradient(scores, y, kind).to(scores.dtype)
    (grad,) = torch.autograd.grad(scores, x, grad_outputs=grad_scores)
    return grad


def gradient_result(
    forward: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    y: np.ndarray,
    kind: OutputKind,
    batch: int | None,
) -> GradientResult:
    """One forward pass (in zero-padded chunks of ``batch`` rows for fixed-batch models) and one
    backward pass: ∇ₓJ up to a positive per-sample factor, and the scores it came from."""
    x = x.requires_grad_(True)
    chunk = batch or x.shape[0]
    outs = []
    for start in range(0, x.shape[0], chunk):
        part = x[start : start + chunk]
        real = part.shape[0]
        if real < chunk:
            part = torch.cat([part, part.new_zeros((chunk - real, *part.shape[1:]))])
        outs.append(forward(part)[:real])
    scores = torch.cat(outs)
    grad = input_gradient(x, scores, torch.from_numpy(np.asarray(y, dtype=np.int64)), kind)
    return GradientResult(
        gradient=grad.to(torch.float64).numpy(), scores=scores.detach().to(torch.float64).numpy()
    )
