"""Boxes of values: the interval type every bound rule reads and returns."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor


class Bounds(NamedTuple):
    """Elementwise ``lower <= value <= upper``; both ``[batch, *per-sample shape]``."""

    lower: Tensor
    upper: Tensor

    def intersect(self, other: Bounds) -> Bounds:
        """The tighter of two sound boxes for the same value."""
        return Bounds(
            torch.maximum(self.lower, other.lower), torch.minimum(self.upper, other.upper)
        )


def concretize_lower(coefficients: Tensor, bias: Tensor, box: Bounds) -> Tensor:
    """The minimum of ``coefficients · x + bias`` over ``x`` in ``box``.

    ``coefficients`` is ``[batch, spec, *input]``, ``bias`` ``[batch, spec]``; each coefficient
    picks the box end that makes its term smallest (``A⁺·lower + A⁻·upper``).
    """
    positive = coefficients.clamp(min=0).flatten(2)
    negative = coefficients.clamp(max=0).flatten(2)
    lower = box.lower.flatten(1).unsqueeze(-1)
    upper = box.upper.flatten(1).unsqueeze(-1)
    return bias + (positive @ lower).squeeze(-1) + (negative @ upper).squeeze(-1)
