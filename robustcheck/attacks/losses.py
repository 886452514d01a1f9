"""Losses an attack can follow, as exact, rescaled gradients with respect to the class scores.

An L∞ attack needs only the *sign* of ∇ₓJ, and each sample's ∇ₓJ is linear in that sample's
dJ/d(scores). So dJ/d(scores) is computed exactly in float64 and each sample is rescaled by a
positive factor so its largest entry is 1 before back-propagating through the float32 model.
A float32 (or even a plain float64) cross-entropy rounds these terms to zero on confidently
classified samples, leaving the attack with nothing to follow.

For logits z and label y (cross-entropy): dJ/dz_j = p_j for j ≠ y and dJ/dz_y = -Σ_{j≠y} p_j,
where the true-class term is summed from the others instead of computed as p_y - 1 (which is 0
once p_y rounds to 1). For probabilities p (NLL of log p): dJ/dp = -1/p_y on the true class only.

Every loss here is *maximised* by the attack: a targeted loss is the negated loss towards the
target. The margin (Carlini-Wagner) loss is max_{j≠y} s_j - s_y on logits, or on log-probabilities
for probability outputs; its gradient entries are ±1 (times 1/p for probabilities), so nothing
underflows.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch

from robustcheck.backends.output import OutputKind


def _rescale(grad: torch.Tensor) -> torch.Tensor:
    """Divide each row by its largest magnitude (rows of zeros stay zero; NaN gives zero)."""
    scale = grad.abs().amax(dim=1, keepdim=True)
    grad = torch.where(scale > 0, grad / torch.where(scale > 0, scale, 1.0), grad)
    return torch.nan_to_num(grad, nan=0.0, posinf=0.0, neginf=0.0)  # NaN scores: no direction


def _cross_entropy(scores: torch.Tensor, label: torch.Tensor, kind: OutputKind) -> torch.Tensor:
    """Rescaled d CE(scores, label) / d scores, float64."""
    scores = scores.detach().to(torch.float64)
    rows = torch.arange(scores.shape[0], device=scores.device)
    if kind is OutputKind.PROBABILITIES:
        grad = torch.zeros_like(scores)
        grad[rows, label] = -1.0
        return grad
    probs = torch.softmax(scores, dim=1)
    probs[rows, label] = 0.0
    grad = probs.clone()
    grad[rows, label] = -probs.sum(dim=1)
    return _rescale(grad)


def _runner_up(scores: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
    masked = scores.clone()
    masked[torch.arange(scores.shape[0], device=scores.device), label] = -torch.inf
    return masked.argmax(dim=1)


class Loss(ABC):
    """A loss the attack maximises; ``target`` is set for targeted losses."""

    name: str
    targeted: bool = False

    @abstractmethod
    def output_gradient(
        self, scores: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None, kind: OutputKind
    ) -> torch.Tensor:
        """Per-sample rescaled dJ/d(scores) in float64, shape ``[N, C]``; rows of zeros stay zero."""


class CrossEntropy(Loss):
    name = "ce"

    def output_gradient(
        self, scores: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None, kind: OutputKind
    ) -> torch.Tensor:
        return _cross_entropy(scores, y, kind)


class TargetedCrossEntropy(Loss):
    """Minimise the cross-entropy towards ``target`` (i.e. maximise its negation)."""

    name = "ce"
    targeted = True

    def output_gradient(
        self, scores: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None, kind: OutputKind
    ) -> torch.Tensor:
        assert target is not None
        return -_cross_entropy(scores, target, kind)


class Margin(Loss):
    """Carlini-Wagner margin: untargeted max_{j≠y} s_j - s_y; targeted s_t - max_{j≠t} s_j."""

    name = "margin"

    def __init__(self, targeted: bool = False) -> None:
        self.targeted = targeted

    def output_gradient(
        self, scores: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None, kind: OutputKind
    ) -> torch.Tensor:
        scores = scores.detach().to(torch.float64)
        rows = torch.arange(scores.shape[0], device=scores.device)
        up, down = (target, None) if self.targeted else (None, y)
        if self.targeted:
            assert target is not None
            down = _runner_up(scores, target)
        else:
            up = _runner_up(scores, y)
        assert up is not None and down is not None
        grad = torch.zeros_like(scores)
        if kind is OutputKind.PROBABILITIES:
            # d log p_j / d p_j = 1/p_j: a zero probability makes its term dominate the row.
            grad[rows, up] = _reciprocal(scores[rows, up])
            grad[rows, down] = -_reciprocal(scores[rows, down])
        else:
            grad[rows, up] = 1.0
            grad[rows, down] = -1.0
        return _rescale(grad)


def _reciprocal(p: torch.Tensor) -> torch.Tensor:
    return torch.where(p > 0, 1.0 / torch.where(p > 0, p, 1.0), torch.full_like(p, 1e300))


LOSSES = ("ce", "margin")


def make_loss(name: str, targeted: bool) -> Loss:
    if name == "ce":
        return TargetedCrossEntropy() if targeted else CrossEntropy()
    if name == "margin":
        return Margin(targeted=targeted)
    raise ValueError(f"unknown loss {name!r}; choose from {', '.join(LOSSES)}")
