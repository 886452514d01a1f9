"""Comparisons, boolean logic and Where.

Comparisons and logic produce booleans, so they carry no gradient; Where does, through the
two branches it selects from.
"""

from __future__ import annotations

import torch
from torch import Tensor

from robustcheck.backends.onnx.twin.registry import op


@op("Equal", 7, differentiable=False)
def equal(a: Tensor, b: Tensor) -> Tensor:
    return torch.eq(a, b)


@op("Less", 7, differentiable=False)
def less(a: Tensor, b: Tensor) -> Tensor:
    return torch.lt(a, b)


@op("Greater", 7, differentiable=False)
def greater(a: Tensor, b: Tensor) -> Tensor:
    return torch.gt(a, b)


@op("LessOrEqual", 12, differentiable=False)
def less_or_equal(a: Tensor, b: Tensor) -> Tensor:
    return torch.le(a, b)


@op("GreaterOrEqual", 12, differentiable=False)
def greater_or_equal(a: Tensor, b: Tensor) -> Tensor:
    return torch.ge(a, b)


@op("Not", 1, differentiable=False)
def not_(x: Tensor) -> Tensor:
    return torch.logical_not(x)


@op("And", 7, differentiable=False)
def and_(a: Tensor, b: Tensor) -> Tensor:
    return torch.logical_and(a, b)


@op("Or", 7, differentiable=False)
def or_(a: Tensor, b: Tensor) -> Tensor:
    return torch.logical_or(a, b)


@op("Xor", 7, differentiable=False)
def xor(a: Tensor, b: Tensor) -> Tensor:
    return torch.logical_xor(a, b)


@op("Where", 9)
def where(condition: Tensor, x: Tensor, y: Tensor) -> Tensor:
    return torch.where(condition, x, y)


@op("IsNaN", 9, differentiable=False)
def is_nan(x: Tensor) -> Tensor:
    return torch.isnan(x)


@op("IsInf", 10, differentiable=False)
def is_inf(x: Tensor, *, detect_negative: int = 1, detect_positive: int = 1) -> Tensor:
    positive = torch.isposinf(x) if detect_positive else torch.zeros_like(x, dtype=torch.bool)
    negative = torch.isneginf(x) if detect_negative else torch.zeros_like(x, dtype=torch.bool)
    return positive | negative
