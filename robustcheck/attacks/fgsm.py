"""Fast Gradient Sign Method.

Goodfellow, Shlens & Szegedy, *Explaining and Harnessing Adversarial Examples*, ICLR 2015,
https://arxiv.org/abs/1412.6572 : ``x_adv = clip(x + ε·sign(∇ₓ J(θ, x, y)))``.
The sign does not depend on ε, so one gradient per batch serves the whole ε sweep.
"""

from __future__ import annotations

import numpy as np

from robustcheck.attacks.base import AttackDirection, SignAttack
from robustcheck.backends.base import Backend
from robustcheck.backends.output import OutputKind


class FGSM(SignAttack):
    name = "fgsm"

    def direction(
        self, model: Backend, x: np.ndarray, y: np.ndarray, kind: OutputKind, *, batch_start: int
    ) -> AttackDirection:
        result = model.loss_gradient(x, y, kind)
        return AttackDirection(signs=np.sign(result.gradient), model_scores=result.scores)
