"""Random-sign noise of the same L∞ size as FGSM: the paper's control (noise barely hurts)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch

from robustcheck.attacks._blocks import offset
from robustcheck.attacks.base import Attack, AttackOutput, BatchContext, Method
from robustcheck.attacks.registry import ATTACKS
from robustcheck.vocabulary import NOISE_BASELINE


@ATTACKS.register()
class RandomSignNoise(Attack):
    """``x + ε·s`` with a uniformly random sign per element, drawn once per batch."""

    name: ClassVar[str] = NOISE_BASELINE
    description: ClassVar[str] = "random ±ε per element: the baseline an attack must beat"
    needs_gradient: ClassVar[bool] = False
    method: ClassVar[Method] = "random"

    def signs(self, ctx: BatchContext) -> torch.Tensor:
        # Seeded by the batch's position, so a sample's noise does not depend on earlier batches.
        rng = ctx.rng()
        signs = rng.integers(0, 2, size=tuple(ctx.x.shape), dtype=np.int8) * 2 - 1
        return torch.from_numpy(signs.astype(np.int8)).to(ctx.x.device)

    def candidates(self, ctx: BatchContext, eps: list[float]) -> AttackOutput:
        signs = self.signs(ctx)
        return AttackOutput({e: offset(ctx.x64, ctx.budget(e), signs) for e in eps})
