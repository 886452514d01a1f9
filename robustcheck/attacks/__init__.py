"""Attacks propose adversarial candidates; the base class owns the ε budget, domain and loss."""

from robustcheck.attacks.base import (
    Attack,
    AttackOutput,
    AttackParams,
    BatchContext,
    GradientResult,
    InputDomain,
    correct,
    project,
)
from robustcheck.attacks.estimated import NES, SPSA
from robustcheck.attacks.gradient import BIM, FGSM, PGD
from robustcheck.attacks.losses import CrossEntropy, Loss, Margin, TargetedCrossEntropy
from robustcheck.attacks.noise import RandomSignNoise

BUILTIN_ATTACKS: tuple[type[Attack], ...] = (FGSM, BIM, PGD, SPSA, NES, RandomSignNoise)

__all__ = [
    "BIM",
    "BUILTIN_ATTACKS",
    "FGSM",
    "NES",
    "PGD",
    "SPSA",
    "Attack",
    "AttackOutput",
    "AttackParams",
    "BatchContext",
    "CrossEntropy",
    "GradientResult",
    "InputDomain",
    "Loss",
    "Margin",
    "RandomSignNoise",
    "TargetedCrossEntropy",
    "correct",
    "project",
]
