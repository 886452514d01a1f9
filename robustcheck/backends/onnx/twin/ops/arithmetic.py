"""Element-wise arithmetic and math, with numpy-style broadcasting."""

from __future__ import annotations

from functools import reduce

import torch
from torch import Tensor

from robustcheck.backends.onnx.twin.registry import OpRegistry


def add(a: Tensor, b: Tensor) -> Tensor:
    return a + b


def sub(a: Tensor, b: Tensor) -> Tensor:
    return a - b


def mul(a: Tensor, b: Tensor) -> Tensor:
    return a * b


def div(a: Tensor, b: Tensor) -> Tensor:
    if a.is_floating_point():
        return a / b
    # ONNX integer division truncates toward zero (C semantics), unlike Python's floor.
    return torch.div(a, b, rounding_mode="trunc")


def pow_(x: Tensor, y: Tensor) -> Tensor:
    """The exponent may have another type than the base; the result keeps the base's."""
    return torch.pow(x, y).to(x.dtype)


def mod(a: Tensor, b: Tensor, *, fmod: int = 0) -> Tensor:
    """``fmod=0`` takes the divisor's sign (Python's %), ``fmod=1`` the dividend's (C fmod)."""
    return torch.fmod(a, b) if fmod else torch.remainder(a, b)


def neg(x: Tensor) -> Tensor:
    return torch.neg(x)


def abs_(x: Tensor) -> Tensor:
    return torch.abs(x)


def sqrt(x: Tensor) -> Tensor:
    return torch.sqrt(x)


def reciprocal(x: Tensor) -> Tensor:
    return torch.reciprocal(x)


def exp(x: Tensor) -> Tensor:
    return torch.exp(x)


def log(x: Tensor) -> Tensor:
    return torch.log(x)


def sin(x: Tensor) -> Tensor:
    return torch.sin(x)


def cos(x: Tensor) -> Tensor:
    return torch.cos(x)


def floor(x: Tensor) -> Tensor:
    return torch.floor(x)


def ceil(x: Tensor) -> Tensor:
    return torch.ceil(x)


def round_(x: Tensor) -> Tensor:
    """Halves round to even, as in ONNX and numpy."""
    return torch.round(x)


def sign(x: Tensor) -> Tensor:
    return torch.sign(x)


def max_(*inputs: Tensor) -> Tensor:
    return reduce(torch.maximum, inputs)


def min_(*inputs: Tensor) -> Tensor:
    return reduce(torch.minimum, inputs)


def sum_(*inputs: Tensor) -> Tensor:
    return reduce(torch.add, inputs)


def mean(*inputs: Tensor) -> Tensor:
    return reduce(torch.add, inputs) / len(inputs)


def register(registry: OpRegistry) -> None:
    registry.add("", "Add", 7, add)
    registry.add("", "Sub", 7, sub)
    registry.add("", "Mul", 7, mul)
    registry.add("", "Div", 7, div)
    registry.add("", "Pow", 7, pow_)
    registry.add("", "Mod", 10, mod)
    registry.add("", "Neg", 6, neg)
    registry.add("", "Abs", 6, abs_)
    registry.add("", "Sqrt", 6, sqrt)
    registry.add("", "Reciprocal", 6, reciprocal)
    registry.add("", "Exp", 6, exp)
    registry.add("", "Log", 6, log)
    registry.add("", "Sin", 7, sin)
    registry.add("", "Cos", 7, cos)
    registry.add("", "Max", 6, max_)
    registry.add("", "Max", 8, max_)
    registry.add("", "Min", 6, min_)
    registry.add("", "Min", 8, min_)
    registry.add("", "Sum", 6, sum_)
    registry.add("", "Sum", 8, sum_)
    registry.add("", "Mean", 6, mean)
    registry.add("", "Mean", 8, mean)
    # Rounding ops have a zero gradient almost everywhere: useless to a gradient attack.
    registry.add("", "Floor", 6, floor, differentiable=False)
    registry.add("", "Ceil", 6, ceil, differentiable=False)
    registry.add("", "Round", 11, round_, differentiable=False)
    registry.add("", "Sign", 9, sign, differentiable=False)
