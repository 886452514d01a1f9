"""What the iterative gradient attacks (PGD, APGD) share: the ε-ball as per-element bounds, the
step of the rows still iterating, gradients of a batch that early stop shrinks, and the test of
whether a sample is fooled."""

from __future__ import annotations

import torch

from robustcheck.attacks.base import BatchContext, Budget, correct
from robustcheck.attacks.losses import Loss

BUCKETS = 8
"""Early stop shrinks the batch; padding it to one of this many sizes keeps the number of input
shapes small (TorchScript re-specialises its graph for every new shape)."""


def bounds(ctx: BatchContext, budget: Budget) -> tuple[torch.Tensor, torch.Tensor]:
    """The ε-ball around the clean batch intersected with the domain, as float64 per-element
    lower and upper bounds (computed once per ε, so each step is one clamp)."""
    x = ctx.x64
    lo, hi = x - budget, x + budget
    if ctx.domain is not None:
        lo, hi = lo.clamp_(min=ctx.domain.lo), hi.clamp_(max=ctx.domain.hi)
    return lo, hi


def for_rows(step: Budget, rows: torch.Tensor, n: int) -> Budget:
    """The step size of the selected rows: a per-sample budget (a text model's mask) is indexed
    with them; one number or a per-feature budget (batch dimension 1) broadcasts as it is."""
    if isinstance(step, torch.Tensor) and step.dim() and step.shape[0] == n != rows.numel():
        return step[rows]
    return step


def gradient_rows(
    ctx: BatchContext,
    adv: torch.Tensor,
    rows: torch.Tensor,
    active: torch.Tensor,
    loss: Loss,
    target: torch.Tensor | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradient and differentiable-path scores at ``adv[rows]``, computed on a batch padded to a
    bucket size with rows that are no longer ``active`` (their results are discarded)."""
    n, k = adv.shape[0], rows.numel()
    if k == n:
        result = ctx.gradient(adv, loss, target=target)
        return result.gradient, result.scores
    unit = max(1, n // BUCKETS)
    size = min(n, -(-k // unit) * unit)
    padded = torch.cat([rows, (~active).nonzero().squeeze(1)[: size - k]])
    result = ctx.gradient(
        adv[padded], loss, rows=padded, target=None if target is None else target[padded]
    )
    return result.gradient[:k], result.scores[:k]


def fooled(scores: torch.Tensor, y: torch.Tensor, target: torch.Tensor | None) -> torch.Tensor:
    """Misclassified (untargeted), or classified as ``target`` (targeted)."""
    return ~correct(scores, y) if target is None else correct(scores, target)
