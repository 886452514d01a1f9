"""Attacks propose a perturbation direction; the base class owns the ε budget and clipping."""

from robustcheck.attacks.base import AttackDirection, InputDomain, SignAttack, perturb
from robustcheck.attacks.fgsm import FGSM
from robustcheck.attacks.noise import RandomSignNoise

__all__ = ["FGSM", "AttackDirection", "InputDomain", "RandomSignNoise", "SignAttack", "perturb"]
