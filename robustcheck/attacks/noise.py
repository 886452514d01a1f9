"""Random-sign noise of the same L∞ size as FGSM: the paper's control (noise barely hurts)."""

from __future__ import annotations

import numpy as np

from robustcheck.attacks.base import AttackDirection, SignAttack
from robustcheck.backends.base import Backend
from robustcheck.backends.output import OutputKind


class RandomSignNoise(SignAttack):
    name = "noise"

    def __init__(self, seed: int) -> None:
        self.seed = seed

    def direction(
        self, model: Backend, x: np.ndarray, y: np.ndarray, kind: OutputKind, *, batch_start: int
    ) -> AttackDirection:
        # Seeded by the batch's position, so a sample's noise does not depend on earlier batches.
        rng = np.random.default_rng([self.seed, batch_start])
        signs = rng.integers(0, 2, size=x.shape, dtype=np.int8).astype(np.float64) * 2 - 1
        return AttackDirection(signs=signs)
