"""Element-wise arithmetic and math, with numpy-style broadcasting."""

from __future__ import annotations

from functools import reduce

import torch
from torch import Tensor

from robustcheck.backends.onnx.twin.registry import op


@op("Add", 7)
def add(a: Tensor, b: Tensor) -> Tensor:
    return a + b


@op("Sub", 7)
def sub(a: Tensor, b: Tensor) -> Tensor:
    return a - b


@op("Mul", 7)
def mul(a: Tensor, b: Tensor) -> Tensor:
    return a * b


@op("Div", 7)
def div(a: Tensor, b: Tensor) -> Tensor:
    if a.is_floating_point():
        return a / b
    # ONNX integer division truncates toward zero (C semantics), unlike Python's floor.
    return torch.div(a, b, rounding_mode="trunc")


@op("Pow", 7)
def pow_(x: Tensor, y: Tensor) -> Tensor:
    """The exponent may have another type than the base; the result keeps the base's."""
    return torch.pow(x, y).to(x.dtype)


@op("Mod", 10)
def mod(a: Tensor, b: Tensor, *, fmod: int = 0) -> Tensor:
    """``fmod=0`` takes the divisor's sign (Python's %), ``fmod=1`` the dividend's (C fmod)."""
    return torch.fmod(a, b) if fmod else torch.remainder(a, b)


@op("Neg", 6)
def neg(x: Tensor) -> Tensor:
    return torch.neg(x)


@op("Abs", 6)
def abs_(x: Tensor) -> Tensor:
    return torch.abs(x)


@op("Sqrt", 6)
def sqrt(x: Tensor) -> Tensor:
    return torch.sqrt(x)


@op("Reciprocal", 6)
def reciprocal(x: Tensor) -> Tensor:
    return torch.reciprocal(x)


@op("Exp", 6)
def exp(x: Tensor) -> Tensor:
    return torch.exp(x)


@op("Log", 6)
def log(x: Tensor) -> Tensor:
    return torch.log(x)


@op("Sin", 7)
def sin(x: Tensor) -> Tensor:
    return torch.sin(x)


@op("Cos", 7)
def cos(x: Tensor) -> Tensor:
    return torch.cos(x)


@op("Tan", 7)
def tan(x: Tensor) -> Tensor:
    return torch.tan(x)


@op("Asin", 7)
def asin(x: Tensor) -> Tensor:
    return torch.asin(x)


@op("Acos", 7)
def acos(x: Tensor) -> Tensor:
    return torch.acos(x)


@op("Atan", 7)
def atan(x: Tensor) -> Tensor:
    return torch.atan(x)


@op("Sinh", 9)
def sinh(x: Tensor) -> Tensor:
    return torch.sinh(x)


@op("Cosh", 9)
def cosh(x: Tensor) -> Tensor:
    return torch.cosh(x)


@op("Asinh", 9)
def asinh(x: Tensor) -> Tensor:
    return torch.asinh(x)


@op("Acosh", 9)
def acosh(x: Tensor) -> Tensor:
    return torch.acosh(x)


@op("Atanh", 9)
def atanh(x: Tensor) -> Tensor:
    return torch.atanh(x)


# Rounding ops have a zero gradient almost everywhere: useless to a gradient attack.
@op("Floor", 6, differentiable=False)
def floor(x: Tensor) -> Tensor:
    return torch.floor(x)


@op("Ceil", 6, differentiable=False)
def ceil(x: Tensor) -> Tensor:
    return torch.ceil(x)


@op("Round", 11, differentiable=False)
def round_(x: Tensor) -> Tensor:
    """Halves round to even, as in ONNX and numpy."""
    return torch.round(x)


@op("Sign", 9, differentiable=False)
def sign(x: Tensor) -> Tensor:
    return torch.sign(x)


@op("Max", 6)
@op("Max", 8)
def max_(*inputs: Tensor) -> Tensor:
    return reduce(torch.maximum, inputs)


@op("Min", 6)
@op("Min", 8)
def min_(*inputs: Tensor) -> Tensor:
    return reduce(torch.minimum, inputs)


@op("Sum", 6)
@op("Sum", 8)
def sum_(*inputs: Tensor) -> Tensor:
    return reduce(torch.add, inputs)


@op("Mean", 6)
@op("Mean", 8)
def mean(*inputs: Tensor) -> Tensor:
    return reduce(torch.add, inputs) / len(inputs)
