"""Budget handling shared by every L∞ sign attack (after foolbox 3's ``FixedEpsilonAttack``).

An attack only proposes a direction in {-1, 0, +1} per input element, computed once per
batch; :func:`perturb` scales it by each ε of the sweep and clips to the valid input domain.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np

from robustcheck.backends.base import Backend
from robustcheck.backends.output import OutputKind


@dataclass(frozen=True)
class InputDomain:
    """The closed interval every valid input element lies in, in raw data units."""

    lo: float
    hi: float


@dataclass(frozen=True)
class AttackDirection:
    signs: np.ndarray
    """Per-element direction in {-1, 0, +1}, float64, same shape as the inputs."""
    model_scores: np.ndarray | None = None
    """Scores the differentiable path produced while computing the direction, if any."""


class SignAttack(ABC):
    """An attack whose perturbation at budget ε is ``ε · direction``."""

    name: str

    @abstractmethod
    def direction(
        self, model: Backend, x: np.ndarray, y: np.ndarray, kind: OutputKind, *, batch_start: int
    ) -> AttackDirection:
        """The perturbation direction for a batch; independent of ε."""


def perturb(
    x: np.ndarray, direction: AttackDirection, eps: float, domain: InputDomain | None
) -> np.ndarray:
    """``clip(x + ε·direction, lo, hi)`` in float64."""
    adv = x.astype(np.float64) + eps * direction.signs
    if domain is not None:
        np.clip(adv, domain.lo, domain.hi, out=adv)
    return adv
