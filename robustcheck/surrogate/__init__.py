"""Surrogates for transfer attacks: small torch models distilled from a target's own predictions."""

from robustcheck.surrogate.fit import FitResult, FitSettings, fit_surrogate, save_surrogate

__all__ = ["FitResult", "FitSettings", "fit_surrogate", "save_surrogate"]
