"""What the iterative gradient attacks (PGD, APGD) share: the ε-ball as per-element bounds, the
step of the rows still iterating, gradients of a batch that early stop shrinks, and the test of
whether a sample is fooled.

Iterates are float64 (a batch of 200 images of 3×224×224 is 241 MB of it): the ball's bounds are
never stored for the whole batch but computed for a block of rows where a step is clipped, and
steps run block by block (robustcheck.attacks._blocks), so a step holds no batch-sized
temporaries.
"""

from __future__ import annotations

import torch

from robustcheck.attacks._blocks import Rows, row_blocks, rows_of
from robustcheck.attacks.base import BatchContext, Budget, correct
from robustcheck.attacks.losses import Loss

BUCKETS = 8
"""Early stop shrinks the batch; padding it to one of this many sizes keeps the number of input
shapes small (TorchScript re-specialises its graph for every new shape)."""


class Ball:
    """The ε-ball around the clean batch intersected with the domain: per element, the bounds
    ``max(x − ε, lo)`` and ``min(x + ε, hi)`` in float64, made for the rows a step clips."""

    def __init__(self, ctx: BatchContext, budget: Budget) -> None:
        self.x, self.budget, self.domain = ctx.x64, budget, ctx.domain
        self.n = self.x.shape[0]

    def bounds(self, rows: Rows) -> tuple[torch.Tensor, torch.Tensor]:
        """Lower and upper bounds of the rows ``rows``."""
        x, budget = self.x[rows], rows_of(self.budget, rows, self.n)
        lo, hi = x - budget, x + budget
        if self.domain is not None:
            lo, hi = lo.clamp_(min=self.domain.lo), hi.clamp_(max=self.domain.hi)
        return lo, hi

    def clip_(self, values: torch.Tensor, rows: Rows) -> torch.Tensor:
        """``values`` (of the rows ``rows``) clipped into the ball, in place."""
        lo, hi = self.bounds(rows)
        return torch.clamp(values, lo, hi, out=values)


def sign_step(
    ball: Ball,
    adv: torch.Tensor,
    rows: torch.Tensor,
    step: Budget,
    grad: torch.Tensor,
) -> None:
    """``adv[rows] ← clip(adv[rows] + step·sign(grad))`` in place, ``grad`` holding the rows'
    gradients in the order of ``rows``."""
    n, k = adv.shape[0], rows.numel()
    for block in row_blocks(adv, k):
        where: Rows = block if k == n else rows[block]
        move = rows_of(step, where, n) * torch.sign(grad[block]).to(torch.float64)
        adv[where] = ball.clip_(adv[where] + move, where)


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
