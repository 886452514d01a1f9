"""Comparisons, boolean logic and Where.

Comparisons and logic produce booleans, so they carry no gradient; Where does, through the
two branches it selects from.
"""

from __future__ import annotations

import torch
from torch import Tensor

from robustcheck.backends.onnx.twin.registry import OpRegistry


def equal(a: Tensor, b: Tensor) -> Tensor:
    return torch.eq(a, b)


def less(a: Tensor, b: Tensor) -> Tensor:
    return torch.lt(a, b)


def greater(a: Tensor, b: Tensor) -> Tensor:
    return torch.gt(a, b)


def less_or_equal(a: Tensor, b: Tensor) -> Tensor:
    return torch.le(a, b)


def greater_or_equal(a: Tensor, b: Tensor) -> Tensor:
    return torch.ge(a, b)


def not_(x: Tensor) -> Tensor:
    return torch.logical_not(x)


def and_(a: Tensor, b: Tensor) -> Tensor:
    return torch.logical_and(a, b)


def or_(a: Tensor, b: Tensor) -> Tensor:
    return torch.logical_or(a, b)


def xor(a: Tensor, b: Tensor) -> Tensor:
    return torch.logical_xor(a, b)


def where(condition: Tensor, x: Tensor, y: Tensor) -> Tensor:
    return torch.where(condition, x, y)


def register(registry: OpRegistry) -> None:
    registry.add("", "Equal", 7, equal, differentiable=False)
    registry.add("", "Less", 7, less, differentiable=False)
    registry.add("", "Greater", 7, greater, differentiable=False)
    registry.add("", "LessOrEqual", 12, less_or_equal, differentiable=False)
    registry.add("", "GreaterOrEqual", 12, greater_or_equal, differentiable=False)
    registry.add("", "Not", 1, not_, differentiable=False)
    registry.add("", "And", 7, and_, differentiable=False)
    registry.add("", "Or", 7, or_, differentiable=False)
    registry.add("", "Xor", 7, xor, differentiable=False)
    registry.add("", "Where", 9, where)
