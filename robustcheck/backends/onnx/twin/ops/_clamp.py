"""A clamp whose gradient does not depend on the torch version."""

from __future__ import annotations

import torch
from torch import Tensor


def clamp_inclusive(
    x: Tensor, low: Tensor | float | None = None, high: Tensor | float | None = None
) -> Tensor:
    """``torch.clamp(x, low, high)``, passing the gradient wherever ``low <= x <= high``, the
    bounds included. torch 2.13 passed it at the bounds and torch 2.14 stops it there, so a pixel
    at exactly 0 behind a ``Clip(0, 1)``, or a value that rounds onto the end of an int8 range,
    would get a gradient on one version and none on the other: a scan's result would depend on
    the installed torch. At a bound the value can still move inwards, so the gradient passes."""
    clamped = torch.clamp(x, low, high)  # type: ignore[arg-type]  # a float or tensor bound
    if not x.requires_grad:
        return clamped
    inside = torch.ones_like(x, dtype=torch.bool)
    if low is not None:
        inside &= x >= low
    if high is not None:
        inside &= x <= high
    return torch.where(inside, x, clamped)
