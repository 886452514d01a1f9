"""An example attack plugin: ``x + factor·ε·sign(∇ₓJ)`` with ``factor`` > 1.

It proposes candidates outside the ε-ball on purpose: the attack base projects every candidate
back onto the ball and the valid domain, so a plugin cannot exceed its budget. With the margin
loss it differs from FGSM; with the default cross-entropy it lands on FGSM's points once clipped.
"""

from __future__ import annotations

from typing import ClassVar, Literal

import torch
from pydantic import Field

from robustcheck.attacks import Attack, AttackOutput, AttackParams, BatchContext
from robustcheck.attacks.losses import make_loss


class OvershootParams(AttackParams):
    factor: float = Field(default=3.0, gt=0, description="Step length as a multiple of ε.")
    loss: Literal["ce", "margin"] = Field(default="margin", description="The loss to follow.")


class Overshoot(Attack):
    name: ClassVar[str] = "overshoot"
    description: ClassVar[str] = "one gradient-sign step of factor·ε, clipped back to ε (example)"
    Params: ClassVar[type[AttackParams]] = OvershootParams

    def candidates(self, ctx: BatchContext, eps: list[float]) -> AttackOutput:
        assert isinstance(self.params, OvershootParams)
        loss = make_loss(self.params.loss, targeted=False)
        signs = torch.sign(ctx.clean_gradient(loss).gradient).to(torch.float64)
        x = ctx.x.to(torch.float64)
        return AttackOutput({e: x + self.params.factor * e * signs for e in eps})
