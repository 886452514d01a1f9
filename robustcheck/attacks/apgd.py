"""APGD: projected gradient ascent with momentum whose step size tunes itself (L∞).

Croce & Hein, *Reliable evaluation of adversarial robustness with an ensemble of diverse
parameter-free attacks*, ICML 2020, https://arxiv.org/abs/2003.01690 (Algorithm 1), with the
choices of their AutoAttack code where the paper leaves one open:

- **Start**: x⁰ = P(x + ε·u/‖u‖∞), u uniform in [-1, 1] per element (AutoAttack's L∞ start: one
  element on the sphere), ε per element (``ctx.budget``); P projects onto the ball ∩ domain.
- **Step**: η = 2ε per element at first; z = P(xᵏ + η·sign ∇J(xᵏ)) and
  xᵏ⁺¹ = P(xᵏ + α(z − xᵏ) + (1 − α)(xᵏ − xᵏ⁻¹)), α = 0.75 (1 for the first step: no momentum).
- **Checkpoints** wⱼ = ⌈pⱼ·N⌉, p₀ = 0, p₁ = 0.22, pⱼ₊₁ = pⱼ + max(pⱼ − pⱼ₋₁ − 0.03, 0.06): per
  sample, η is halved and the iterate goes back to the best point (with its stored gradient, so
  no extra pass) when fewer than ρ = 0.75 of the steps since the last checkpoint raised the loss,
  or when η was not halved at the last checkpoint and the best loss has not risen since.
- **Cost**: a run evaluates the start and every iterate: ``steps + 1`` forward+backward passes
  per sample at most, the loss values coming from the same forward as the gradient.
- **Result**: per sample, the iterate the differentiable path misclassifies (the first with early
  stop, which then stops iterating that sample; the last without), else the highest-loss point.
  With ``restarts`` > 1 or ``targets`` the deployed runtime judges each run: a sample keeps the
  first run's point that fools it, else the highest-loss point of all runs.
- **APGD-T** (``targets`` = K): one run towards each of the K classes the clean scores rank
  highest after the label, in turn, on the samples no earlier run broke; as in AutoAttack a run
  succeeds when the sample is misclassified, whichever class it lands in.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import torch
from pydantic import Field, model_validator

from robustcheck.attacks._blocks import Rows, row_blocks, rows_of
from robustcheck.attacks.base import (
    Attack,
    AttackOutput,
    AttackParams,
    BatchContext,
    correct,
)
from robustcheck.attacks.iterate import Ball, gradient_rows
from robustcheck.attacks.losses import Loss, make_loss
from robustcheck.attacks.registry import ATTACKS

MOMENTUM = 0.75
"""α: the weight of the new gradient step; 1 − α carries the previous move."""
RHO = 0.75
"""The share of steps between checkpoints that must raise the loss to keep the step size."""
STREAM = 6
"""The random-start stream of :meth:`BatchContext.rng` (other attacks use others)."""


class APGDParams(AttackParams):
    steps: int = Field(
        default=100, ge=1, le=100_000, description="Iterations per run (AutoAttack's 100)."
    )
    loss: Literal["ce", "dlr", "margin"] = Field(
        default="ce",
        description="`ce` (cross-entropy), `dlr` (difference of logits ratio: scale-invariant) "
        "or `margin`; with `targets` > 0 the default is `dlr` (targeted).",
    )
    restarts: int = Field(
        default=1, ge=1, le=1000, description="Runs per sample (and per target), new starts."
    )
    seed: int = Field(default=0, ge=0, description="Seed of the starts (with the scan's --seed).")
    targets: int = Field(
        default=0,
        ge=0,
        le=1000,
        description="0: untargeted. K > 0: APGD-T, a run towards each of the K classes ranked "
        "highest after the label by the clean scores (AutoAttack: 9); at most classes − 1.",
    )
    early_stop: bool = Field(default=True, description="Stop a sample once it is fooled.")

    @model_validator(mode="before")
    @classmethod
    def _targeted_default_loss(cls, data: Any) -> Any:
        """APGD-T follows the targeted DLR loss unless a loss is named."""
        if isinstance(data, dict) and "loss" not in data:
            try:
                targets = int(data.get("targets", 0))
            except (TypeError, ValueError):
                return data  # the field's own validation reports it
            if targets > 0:
                return {**data, "loss": "dlr"}
        return data


def checkpoints(steps: int) -> list[int]:
    """The iterations w_j = ⌈p_j·steps⌉ after which the step size is reconsidered (distinct,
    within ``steps``); p in hundredths, so the ceiling is exact."""
    marks: list[int] = []
    before, p = 0, 22
    while (mark := -(-p * steps // 100)) <= steps:
        if not marks or mark > marks[-1]:
            marks.append(mark)
        before, p = p, p + max(p - before - 3, 6)
    return marks


@ATTACKS.register()
class APGD(Attack):
    """Auto-PGD on the L∞ ball (Croce & Hein 2020); APGD-T with ``targets``."""

    name: ClassVar[str] = "apgd"
    description: ClassVar[str] = "PGD with momentum and a self-tuning step size (AutoAttack's)"
    Params: ClassVar[type[AttackParams]] = APGDParams

    def _settings(self) -> APGDParams:
        assert isinstance(self.params, APGDParams)
        return self.params

    @property
    def iterative(self) -> bool:
        return self._settings().steps > 1

    @property
    def targeted(self) -> bool:
        return self._settings().targets > 0

    @property
    def random_start(self) -> bool:
        return True

    def candidates(self, ctx: BatchContext, eps: list[float]) -> AttackOutput:
        p = self._settings()
        adversarial: dict[float, torch.Tensor] = {}
        targets: dict[float, torch.Tensor] = {}
        for index, e in enumerate(eps):
            adversarial[e], chosen = _attack(ctx, p, index, e)
            if chosen is not None:
                targets[e] = chosen
        return AttackOutput(adversarial, targets if p.targets else None)


def _goals(ctx: BatchContext, p: APGDParams) -> list[torch.Tensor | None]:
    """The target of each run in turn: none (untargeted), or the classes ranked 2nd, 3rd, ...
    by the clean scores, never the label."""
    if p.targets == 0:
        return [None]
    n, n_classes = ctx.clean_scores.shape
    order = ctx.clean_scores.argsort(dim=1, descending=True, stable=True)
    others = order[order != ctx.y.unsqueeze(1)].view(n, n_classes - 1)
    return [others[:, rank] for rank in range(min(p.targets, n_classes - 1))]


def _attack(
    ctx: BatchContext, p: APGDParams, index: int, eps: float
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The adversarial batch at ``eps`` and, for APGD-T, the target of the run each sample's
    point comes from."""
    ball = Ball(ctx, ctx.budget(eps))
    loss = make_loss(p.loss, targeted=p.targets > 0)
    goals = _goals(ctx, p)
    runs = [(rank, target, r) for rank, target in enumerate(goals) for r in range(p.restarts)]
    result, value = ctx.x64.clone(), torch.full_like(ctx.y, -torch.inf, dtype=torch.float64)
    chosen = None if goals[0] is None else goals[0].clone()
    done = torch.zeros_like(ctx.y, dtype=torch.bool)
    for rank, target, restart in runs:
        attack = ~done
        if not attack.any():
            break
        start = _random_start(ctx, p.seed, ball, (index, rank, restart))
        run = _Run(ctx, loss, target, ball, start, attack, p.early_stop)
        point, run_value = run.search(p.steps)
        if len(runs) == 1:
            return point, target
        broken = ~correct(ctx.runtime_scores(point), ctx.y) & attack
        keep = broken | (attack & (run_value > value))
        result[keep], value[keep] = point[keep], run_value[keep]
        if chosen is not None and target is not None:
            chosen[keep] = target[keep]
        done |= broken
    return result, chosen


def _random_start(
    ctx: BatchContext, seed: int, ball: Ball, stream: tuple[int, ...]
) -> torch.Tensor:
    """x + ε·u/‖u‖∞ in the ball ∩ domain, u uniform per element, drawn for the whole batch so a
    sample's start never depends on which others are still attacked (made in place on u)."""
    x = ctx.x64
    u = torch.from_numpy(ctx.rng(STREAM, seed, *stream).uniform(-1.0, 1.0, size=tuple(x.shape)))
    u = u.to(x.device)
    peak = torch.cat([u[block].abs().flatten(1).amax(dim=1) for block in row_blocks(u)])
    peak = peak.clamp_min(1e-12).view(-1, *[1] * (x.dim() - 1))
    for block in row_blocks(u):
        point = x[block] + rows_of(ball.budget, block, ball.n) * (u[block] / peak[block])
        lo, hi = ball.bounds(block)
        u[block] = torch.minimum(torch.maximum(point, lo), hi)
    return u


class _Run:
    """One APGD run from ``start`` over the samples ``attack``: the iterates xᵏ and xᵏ⁻¹, the best
    point and the per-sample step-size schedule (no history beyond them)."""

    def __init__(
        self,
        ctx: BatchContext,
        loss: Loss,
        target: torch.Tensor | None,
        ball: Ball,
        start: torch.Tensor,
        attack: torch.Tensor,
        early_stop: bool,
    ) -> None:
        self.ctx, self.loss, self.target, self.ball = ctx, loss, target, ball
        self.early_stop = early_stop
        n = start.shape[0]
        self.adv, self.prev, self.best = start, start.clone(), start.clone()
        self.found = None if early_stop else start.clone()
        """Without early stop, the last misclassified iterate (with it, ``adv`` stays there)."""
        self.signs = torch.zeros_like(start, dtype=torch.int8)
        self.best_signs = torch.zeros_like(self.signs)
        vector = torch.zeros(n, dtype=torch.float64, device=start.device)
        self.scale = vector + 2.0  # η = scale·ε per sample
        self.last, self.best_loss = vector + torch.inf, vector - torch.inf
        self.best_at_check = vector - torch.inf
        self.rises = torch.zeros(n, dtype=torch.int64, device=start.device)
        self.halved = torch.ones(n, dtype=torch.bool, device=start.device)
        self.active, self.fooled = attack.clone(), torch.zeros_like(attack)

    def search(self, steps: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Each sample's point (misclassified on the differentiable path, else its highest-loss
        one) and its loss (+inf where misclassified)."""
        self.evaluate(self.active.nonzero().squeeze(1))
        self.best_at_check = self.best_loss.clone()
        marks, last_mark = set(checkpoints(steps)), 0
        for k in range(steps):
            rows = self.active.nonzero().squeeze(1)
            if rows.numel() == 0:
                break
            self.step(rows, 1.0 if k == 0 else MOMENTUM)
            self.evaluate(rows)
            if k + 1 in marks:
                self.checkpoint(k + 1 - last_mark)
                last_mark = k + 1
        found = self.adv if self.found is None else self.found
        value = torch.where(self.fooled, torch.inf, self.best_loss)
        self.best[self.fooled] = found[self.fooled]
        return self.best, value

    def step(self, rows: torch.Tensor, alpha: float) -> None:
        """xᵏ⁺¹ from xᵏ along the sign of the gradient there, with momentum ``1 − alpha`` (block by
        block: no batch-sized temporaries)."""
        n, k = self.adv.shape[0], rows.numel()
        for block in row_blocks(self.adv, k):
            self._step(block if k == n else rows[block], alpha)

    def _step(self, rows: Rows, alpha: float) -> None:
        n, ball = self.adv.shape[0], self.ball
        current = self.adv[rows]
        shape = (-1, *[1] * (current.dim() - 1))
        eta = rows_of(ball.budget, rows, n) * self.scale[rows].view(shape)
        z = ball.clip_(current + eta * self.signs[rows], rows)
        if alpha != 1.0:
            previous = self.prev[rows]
            moved = current + alpha * (z - current) + (1 - alpha) * (current - previous)
            z = ball.clip_(moved, rows)
        self.prev[rows] = current
        self.adv[rows] = z

    def evaluate(self, rows: torch.Tensor) -> None:
        """One forward+backward at ``adv[rows]``: the gradient's sign, the loss values (from the
        same forward), the best points, and which samples are misclassified."""
        ctx = self.ctx
        grad, scores = gradient_rows(ctx, self.adv, rows, self.active, self.loss, self.target)
        target = None if self.target is None else self.target[rows]
        values = self.loss.value(scores, ctx.y[rows], target, ctx.kind)
        self.signs[rows] = torch.sign(grad).to(torch.int8)
        self.rises[rows] += values > self.last[rows]
        self.last[rows] = values
        better = rows[values > self.best_loss[rows]]
        self.best[better] = self.adv[better]
        self.best_signs[better] = self.signs[better]
        self.best_loss[better] = self.last[better]
        hit = rows[~correct(scores, ctx.y[rows])]
        self.fooled[hit] = True
        if self.found is not None:
            self.found[hit] = self.adv[hit]
        elif hit.numel():
            self.active[hit] = False

    def checkpoint(self, since: int) -> None:
        """Halve η and return to the best point where the loss rose too rarely since the last
        checkpoint, or where η was kept then and the best loss has not risen since."""
        rows = self.active.nonzero().squeeze(1)
        rarely = self.rises[rows] < RHO * since
        stalled = ~self.halved[rows] & (self.best_loss[rows] <= self.best_at_check[rows])
        halve = rarely | stalled
        back = rows[halve]
        self.scale[back] /= 2
        self.adv[back] = self.best[back]
        self.signs[back] = self.best_signs[back]
        self.last[back] = self.best_loss[back]
        self.halved[rows] = halve
        self.best_at_check[rows] = self.best_loss[rows]
        self.rises[rows] = 0
