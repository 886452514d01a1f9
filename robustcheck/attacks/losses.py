"""Losses an attack can follow, as exact, rescaled gradients with respect to the class scores.

An L∞ attack needs only the *sign* of ∇ₓJ, and each sample's ∇ₓJ is linear in that sample's
dJ/d(scores). So dJ/d(scores) is computed exactly in float64 and each sample is rescaled by a
positive factor so its largest entry is 1 before back-propagating through the float32 model.

Cross-entropy (logits z, label y): dJ/dz_j = p_j for j ≠ y and dJ/dz_y = -Σ_{j≠y} p_j. Rescaled by
its largest entry Σ_{j≠y} p_j, that is exactly ``q_j`` for j ≠ y and ``-1`` for y, where q is the
softmax of the *other* classes' logits: computed that way it never underflows, so a confident
model (logits ×1000) still has a cross-entropy direction. (Computed as p_j, a float64 softmax
rounds it to zero once the margin passes about 745.) For probabilities p (NLL of log p):
dJ/dp = -1/p_y on the true class only.

DLR (Croce & Hein, *Reliable evaluation of adversarial robustness with an ensemble of diverse
parameter-free attacks*, ICML 2020, https://arxiv.org/abs/2003.01690) divides the margin by the
spread of the top scores, so it is invariant to shifting and scaling the logits:
``-(z_y - max_{j≠y} z_j) / (z_π1 - z_π3)`` untargeted and ``-(z_y - z_t) / (z_π1 - (z_π3 + z_π4)/2)``
towards a target t, π sorting the logits in decreasing order. Probability outputs use log p, whose
differences are the logits'.

Every loss here is *maximised* by the attack: a targeted loss is the negated loss towards the
target. The margin (Carlini-Wagner) loss is max_{j≠y} s_j - s_y on logits, or on log-probabilities
for probability outputs; its gradient entries are ±1 (times 1/p for probabilities), so nothing
underflows. Each loss also gives its per-sample value (:meth:`Loss.value`), which APGD tracks.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch

from robustcheck.backends.output import OutputKind

_DLR_DELTA = 1e-12
"""Keeps the DLR denominator positive when the top logits tie."""


def _rescale(grad: torch.Tensor) -> torch.Tensor:
    """Divide each row by its largest magnitude (rows of zeros stay zero; NaN gives zero)."""
    scale = grad.abs().amax(dim=1, keepdim=True)
    grad = torch.where(scale > 0, grad / torch.where(scale > 0, scale, 1.0), grad)
    return torch.nan_to_num(grad, nan=0.0, posinf=0.0, neginf=0.0)  # NaN scores: no direction


def _rows(scores: torch.Tensor) -> torch.Tensor:
    return torch.arange(scores.shape[0], device=scores.device)


def _log_scores(scores: torch.Tensor, kind: OutputKind) -> torch.Tensor:
    """Scores on the logit scale, float64: log p for probabilities (-inf where p is 0). Not
    detached: a value may be differentiated (the tests check the analytic gradients so)."""
    scores = scores.to(torch.float64)
    return scores.log() if kind is OutputKind.PROBABILITIES else scores


def _to_scores(grad_log: torch.Tensor, scores: torch.Tensor, kind: OutputKind) -> torch.Tensor:
    """A gradient with respect to log p, as one with respect to p (d log p / dp = 1/p)."""
    if kind is not OutputKind.PROBABILITIES:
        return grad_log
    p = scores.detach().to(torch.float64)
    return torch.where(grad_log != 0, grad_log * _reciprocal(p), grad_log)


def _cross_entropy(scores: torch.Tensor, label: torch.Tensor, kind: OutputKind) -> torch.Tensor:
    """Rescaled d CE(scores, label) / d scores, float64."""
    scores = scores.detach().to(torch.float64)
    rows = _rows(scores)
    if kind is OutputKind.PROBABILITIES:
        grad = torch.zeros_like(scores)
        grad[rows, label] = -1.0
        return grad
    others = scores.clone()
    others[rows, label] = -torch.inf
    grad = torch.softmax(others, dim=1)  # q: the other classes' softmax, 0 on the true class
    grad[rows, label] = -1.0
    return torch.nan_to_num(grad, nan=0.0, posinf=0.0, neginf=0.0)


def _cross_entropy_value(
    scores: torch.Tensor, label: torch.Tensor, kind: OutputKind
) -> torch.Tensor:
    log_p = (
        _log_scores(scores, kind)
        if kind is OutputKind.PROBABILITIES
        else torch.log_softmax(scores.to(torch.float64), dim=1)
    )
    return -log_p[_rows(scores), label]


def _runner_up(scores: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
    masked = scores.clone()
    masked[_rows(scores), label] = -torch.inf
    return masked.argmax(dim=1)


class Loss(ABC):
    """A loss the attack maximises; ``target`` is set for targeted losses."""

    name: str
    targeted: bool = False

    @property
    def fallback(self) -> Loss | None:
        """The loss followed instead at samples where this one's input gradient is exactly zero
        (cross-entropy: the margin loss, whose gradient does not vanish with confidence)."""
        return None

    @abstractmethod
    def output_gradient(
        self, scores: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None, kind: OutputKind
    ) -> torch.Tensor:
        """Per-sample rescaled dJ/d(scores) in float64, shape ``[N, C]``; rows of zeros stay zero."""

    @abstractmethod
    def value(
        self, scores: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None, kind: OutputKind
    ) -> torch.Tensor:
        """Per-sample J (the quantity maximised), float64, shape ``[N]``."""


class CrossEntropy(Loss):
    name = "ce"

    @property
    def fallback(self) -> Loss | None:
        return Margin()

    def output_gradient(
        self, scores: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None, kind: OutputKind
    ) -> torch.Tensor:
        return _cross_entropy(scores, y, kind)

    def value(
        self, scores: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None, kind: OutputKind
    ) -> torch.Tensor:
        return _cross_entropy_value(scores, y, kind)


class TargetedCrossEntropy(Loss):
    """Minimise the cross-entropy towards ``target`` (i.e. maximise its negation)."""

    name = "ce"
    targeted = True

    @property
    def fallback(self) -> Loss | None:
        return Margin(targeted=True)

    def output_gradient(
        self, scores: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None, kind: OutputKind
    ) -> torch.Tensor:
        assert target is not None
        return -_cross_entropy(scores, target, kind)

    def value(
        self, scores: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None, kind: OutputKind
    ) -> torch.Tensor:
        assert target is not None
        return -_cross_entropy_value(scores, target, kind)


class Margin(Loss):
    """Carlini-Wagner margin: untargeted max_{j≠y} s_j - s_y; targeted s_t - max_{j≠t} s_j."""

    name = "margin"

    def __init__(self, targeted: bool = False) -> None:
        self.targeted = targeted

    def _ends(
        self, scores: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The class pushed up and the class pushed down."""
        if self.targeted:
            assert target is not None
            return target, _runner_up(scores, target)
        return _runner_up(scores, y), y

    def output_gradient(
        self, scores: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None, kind: OutputKind
    ) -> torch.Tensor:
        scores = scores.detach().to(torch.float64)
        rows = _rows(scores)
        up, down = self._ends(scores, y, target)
        grad = torch.zeros_like(scores)
        grad[rows, up] = 1.0
        grad[rows, down] = -1.0
        # d log p_j / d p_j = 1/p_j: a zero probability makes its term dominate the row.
        return _rescale(_to_scores(grad, scores, kind))

    def value(
        self, scores: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None, kind: OutputKind
    ) -> torch.Tensor:
        logits = _log_scores(scores, kind)
        rows = _rows(logits)
        up, down = self._ends(logits, y, target)
        return logits[rows, up] - logits[rows, down]


class DLR(Loss):
    """Difference of logits ratio: the margin over the spread of the top logits (Croce & Hein
    2020); scale-invariant. Untargeted, or towards ``target`` (DLR-T)."""

    name = "dlr"

    def __init__(self, targeted: bool = False) -> None:
        self.targeted = targeted

    def _parts(
        self, logits: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(numerator classes up/down, sorted class order, denominator)``: J = -(z_down -
        z_up) / d. With fewer classes than the loss looks at, the last sorted class stands in."""
        rows = _rows(logits)
        order = logits.argsort(dim=1, descending=True)
        last = logits.shape[1] - 1
        z_sorted = logits.gather(1, order)
        if self.targeted:
            assert target is not None
            up, down = target, y
            third = z_sorted[:, min(2, last)]
            fourth = z_sorted[:, min(3, last)]
            d = z_sorted[:, 0] - (third + fourth) / 2
        else:
            up, down = _runner_up(logits, y), y
            d = z_sorted[:, 0] - z_sorted[:, min(2, last)]
        del rows
        return up, down, order, d + _DLR_DELTA

    def value(
        self, scores: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None, kind: OutputKind
    ) -> torch.Tensor:
        logits = _log_scores(scores, kind)
        rows = _rows(logits)
        up, down, _, d = self._parts(logits, y, target)
        return (logits[rows, up] - logits[rows, down]) / d

    def output_gradient(
        self, scores: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None, kind: OutputKind
    ) -> torch.Tensor:
        logits = _log_scores(scores.detach(), kind)
        rows = _rows(logits)
        up, down, order, d = self._parts(logits, y, target)
        a = logits[rows, up] - logits[rows, down]  # J = a / d
        grad = torch.zeros_like(logits)
        grad[rows, up] += 1.0 / d
        grad[rows, down] -= 1.0 / d
        last = logits.shape[1] - 1
        spread = torch.zeros_like(logits)  # dd/dz
        spread[rows, order[:, 0]] += 1.0
        if self.targeted:
            spread[rows, order[:, min(2, last)]] -= 0.5
            spread[rows, order[:, min(3, last)]] -= 0.5
        else:
            spread[rows, order[:, min(2, last)]] -= 1.0
        grad -= (a / d**2).unsqueeze(1) * spread
        grad = torch.where(torch.isfinite(logits), grad, torch.zeros_like(grad))
        return _rescale(_to_scores(grad, scores, kind))


def _reciprocal(p: torch.Tensor) -> torch.Tensor:
    return torch.where(p > 0, 1.0 / torch.where(p > 0, p, 1.0), torch.full_like(p, 1e300))


LOSSES = ("ce", "margin", "dlr")


def make_loss(name: str, targeted: bool) -> Loss:
    if name == "ce":
        return TargetedCrossEntropy() if targeted else CrossEntropy()
    if name == "margin":
        return Margin(targeted=targeted)
    if name == "dlr":
        return DLR(targeted=targeted)
    raise ValueError(f"unknown loss {name!r}; choose from {', '.join(LOSSES)}")
