"""Gradient-sign attacks: projected gradient descent, and FGSM and BIM as its special cases.

FGSM (Goodfellow, Shlens & Szegedy, *Explaining and Harnessing Adversarial Examples*, ICLR 2015,
https://arxiv.org/abs/1412.6572): one step of size ε from the clean input.
BIM (Kurakin, Goodfellow & Bengio, 2017, https://arxiv.org/abs/1607.02533): several smaller steps,
projected back onto the ε-ball after each.
PGD (Madry et al., ICLR 2018, https://arxiv.org/abs/1706.06083): BIM from a uniformly random start,
optionally restarted.

One implementation serves all three. Per sample, iteration stops once the sample is fooled on the
differentiable path (counts are per sample, so this changes no count and saves most of the work on
weak models); the deployed runtime judges the final inputs.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

import torch
from pydantic import Field, field_validator

from robustcheck.attacks._blocks import clip_to_ball_, offset
from robustcheck.attacks.base import (
    Attack,
    AttackOutput,
    AttackParams,
    BatchContext,
    Budget,
    correct,
)
from robustcheck.attacks.iterate import Ball, fooled, gradient_rows, sign_step
from robustcheck.attacks.losses import make_loss
from robustcheck.attacks.registry import ATTACKS
from robustcheck.errors import UsageError

Target = Literal["least-likely", "all"] | int | None


def _target(value: Any) -> Any:
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return value


class _TargetedParams(AttackParams):
    loss: Literal["ce", "margin"] = Field(
        default="ce", description="`ce` (cross-entropy) or `margin` (Carlini-Wagner)."
    )
    target: Literal["least-likely", "all"] | int | None = Field(
        default=None,
        description="Untargeted when unset; else push towards the least-likely class, a class "
        "index, or every class in turn (`all`, worst case: one run per class).",
    )

    @field_validator("target", mode="before")
    @classmethod
    def _parse_target(cls, value: Any) -> Any:
        value = _target(value)
        if isinstance(value, int) and not isinstance(value, bool) and value < 0:
            raise ValueError("a target class must be >= 0")
        return value


class PGDParams(_TargetedParams):
    steps: int = Field(default=10, ge=1, le=100_000, description="Gradient steps per restart.")
    step_size: float | None = Field(
        default=None, gt=0, description="Step size as a multiple of ε (default 2.5 / steps)."
    )
    random_start: bool = Field(default=True, description="Start uniformly inside the ε-ball.")
    restarts: int = Field(default=1, ge=1, le=1000, description="Independent runs per sample.")
    early_stop: bool = Field(default=True, description="Stop a sample once it is fooled.")


class BIMParams(PGDParams):
    random_start: bool = Field(default=False, description="Start uniformly inside the ε-ball.")


class FGSMParams(_TargetedParams):
    pass


@ATTACKS.register()
class PGD(Attack):
    """Projected gradient descent on the L∞ ball (Madry et al. 2018)."""

    name: ClassVar[str] = "pgd"
    description: ClassVar[str] = "iterative gradient-sign steps from a random start, projected"
    Params: ClassVar[type[AttackParams]] = PGDParams

    def _settings(self) -> PGDParams:
        assert isinstance(self.params, PGDParams)
        return self.params

    @property
    def iterative(self) -> bool:
        """Per configuration: ``steps=1`` is one step (FGSM's, from a random start or not)."""
        return self._settings().steps > 1

    @property
    def targeted(self) -> bool:
        return self._settings().target is not None

    @property
    def random_start(self) -> bool:
        return self._settings().random_start

    def candidates(self, ctx: BatchContext, eps: list[float]) -> AttackOutput:
        p = self._settings()
        loss = make_loss(p.loss, targeted=p.target is not None)
        adversarial: dict[float, torch.Tensor] = {}
        targets: dict[float, torch.Tensor] = {}
        for index, e in enumerate(eps):
            if p.target is None:
                adversarial[e] = self._run(ctx, p, loss, index, e, None, None)
                continue
            adversarial[e], targets[e] = self._targeted(ctx, p, loss, index, e)
        return AttackOutput(adversarial, targets if p.target is not None else None)

    def _targeted(
        self, ctx: BatchContext, p: PGDParams, loss: Any, index: int, eps: float
    ) -> tuple[torch.Tensor, torch.Tensor]:
        n_classes = ctx.clean_scores.shape[1]
        if p.target == "all":
            best = ctx.x.to(torch.float64).clone()
            chosen = torch.full_like(ctx.y, -1)
            for t in range(n_classes):
                target = torch.full_like(ctx.y, t)
                adv = self._run(ctx, p, loss, index, eps, target, ("class", t))
                hit = correct(ctx.runtime_scores(adv), target) & (ctx.y != t) & (chosen < 0)
                best[hit], chosen[hit] = adv[hit], t
            # Samples no class could reach report the last class tried that is not their own.
            missing = chosen < 0
            chosen[missing] = torch.where(
                ctx.y[missing] == n_classes - 1, n_classes - 2, n_classes - 1
            )
            return best, chosen
        if p.target == "least-likely":
            target = ctx.clean_scores.argmin(dim=1)
            key: object = "least-likely"
        else:
            assert isinstance(p.target, int)
            if p.target >= n_classes:
                raise UsageError(
                    f"--attack {self.label}: target={p.target} but the model has {n_classes} classes"
                )
            target = torch.full_like(ctx.y, p.target)
            key = ("class", p.target)
        return self._run(ctx, p, loss, index, eps, target, key), target

    def _one_step(
        self,
        ctx: BatchContext,
        loss: Any,
        alpha: float | torch.Tensor,
        target: torch.Tensor | None,
        key: object,
    ) -> torch.Tensor:
        return _one_step_adv(ctx, loss, alpha, target, key)

    def _run(
        self,
        ctx: BatchContext,
        p: PGDParams,
        loss: Any,
        index: int,
        eps: float,
        target: torch.Tensor | None,
        key: object,
    ) -> torch.Tensor:
        x = ctx.x64
        budget = ctx.budget(eps)
        alpha = (p.step_size if p.step_size is not None else 2.5 / p.steps) * budget
        if p.steps == 1 and not p.random_start:
            return self._one_step(ctx, loss, alpha, target, key)
        # A sample already in the target class is not attacked (there is nothing to reach).
        attackable = torch.ones_like(ctx.y, dtype=torch.bool) if target is None else ctx.y != target
        best = None if p.restarts == 1 else x.clone()
        done = ~attackable
        ball = Ball(ctx, budget)
        for restart in range(p.restarts):
            adv = _start(ctx, p, index, restart, eps, budget)
            active = ~done
            for step in range(p.steps):
                rows = active.nonzero().squeeze(1)
                if rows.numel() == 0:
                    break
                sub_target = None if target is None else target[rows]
                if step == 0 and not p.random_start:
                    clean = ctx.clean_gradient(loss, target, key)
                    grad, scores = clean.gradient[rows], clean.scores[rows]
                else:
                    grad, scores = gradient_rows(ctx, adv, rows, active, loss, target)
                if p.early_stop and step > 0:
                    hit = fooled(scores, ctx.y[rows], sub_target)
                    active[rows[hit]] = False
                    rows, grad = rows[~hit], grad[~hit]
                sign_step(ball, adv, rows, alpha, grad)
                del grad  # a batch of float64: not held while the next one is computed
            if best is None:
                adv[done] = x[done]
                return adv
            hit = fooled(ctx.runtime_scores(adv), ctx.y, target) & ~done
            first = hit if restart else torch.ones_like(hit) & ~done
            best[first] = adv[first]
            done |= hit
        assert best is not None
        return best


def _start(
    ctx: BatchContext, p: PGDParams, index: int, restart: int, eps: float, budget: Budget
) -> torch.Tensor:
    """A run's first iterate: the clean batch, or a uniform draw from the ball (projected into
    the domain), made in place on the draw."""
    if not p.random_start:
        return ctx.x64.clone()
    shape = tuple(ctx.x.shape)
    rng = ctx.rng(1, index, restart)
    if ctx.eps_scale is None and ctx.free is None:
        start = torch.from_numpy(rng.uniform(-eps, eps, size=shape)).to(ctx.x.device)
    else:
        start = torch.from_numpy(rng.uniform(-1.0, 1.0, size=shape)).to(ctx.x.device)
        start.mul_(budget)
    start.add_(ctx.x64)
    lo, hi = (None, None) if ctx.domain is None else (ctx.domain.lo, ctx.domain.hi)
    return clip_to_ball_(start, ctx.x64, budget, lo, hi)


def _one_step_adv(
    ctx: BatchContext,
    loss: Any,
    alpha: float | torch.Tensor,
    target: torch.Tensor | None,
    key: object,
) -> torch.Tensor:
    """FGSM's case: one step from the clean input along the shared clean gradient's sign (the
    base clips to the ball and the domain). Samples already in their target stay unperturbed."""
    adv = offset(ctx.x64, alpha, ctx.clean_signs(loss, target, key))
    if target is not None:
        keep = ctx.y == target
        adv[keep] = ctx.x64[keep]
    return adv


@ATTACKS.register()
class BIM(PGD):
    """Basic iterative method: PGD without the random start (Kurakin et al. 2017)."""

    name: ClassVar[str] = "bim"
    description: ClassVar[str] = "iterative gradient-sign steps from the clean input, projected"
    Params: ClassVar[type[AttackParams]] = BIMParams


@ATTACKS.register()
class FGSM(PGD):
    """Fast gradient sign method: one step of size ε from the clean input (Goodfellow et al.
    2015). The direction does not depend on ε, so one gradient per batch serves the sweep."""

    name: ClassVar[str] = "fgsm"
    description: ClassVar[str] = "one gradient-sign step of size ε (the paper's attack)"
    Params: ClassVar[type[AttackParams]] = FGSMParams

    def _settings(self) -> PGDParams:
        return PGDParams(
            steps=1,
            step_size=1.0,
            random_start=False,
            restarts=1,
            loss=self.params.loss,  # type: ignore[attr-defined]
            target=self.params.target,  # type: ignore[attr-defined]
        )
