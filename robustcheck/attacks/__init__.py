"""Attacks propose adversarial candidates; the base class owns the ε budget, domain and loss.

The names below are imported on first use (PEP 562), so the pure parts of the package (the
``NAME[:KEY=VALUE]`` parser in :mod:`robustcheck.attacks.spec`, read by settings and policies)
load without torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from robustcheck.attacks.apgd import APGD
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
    from robustcheck.attacks.square import Square

_HOME = {
    "APGD": "apgd",
    "Attack": "base",
    "AttackOutput": "base",
    "AttackParams": "base",
    "BatchContext": "base",
    "GradientResult": "base",
    "InputDomain": "base",
    "correct": "base",
    "project": "base",
    "NES": "estimated",
    "SPSA": "estimated",
    "BIM": "gradient",
    "FGSM": "gradient",
    "PGD": "gradient",
    "CrossEntropy": "losses",
    "Loss": "losses",
    "Margin": "losses",
    "TargetedCrossEntropy": "losses",
    "RandomSignNoise": "noise",
    "Square": "square",
}

__all__ = [
    "APGD",
    "BIM",
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
    "Square",
    "TargetedCrossEntropy",
    "correct",
    "project",
]


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
