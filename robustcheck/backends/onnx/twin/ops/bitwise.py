"""Bitwise operators on integer tensors: BitShift and Bitwise{And,Or,Xor,Not}.

torch keeps uint16/uint32/uint64 as storage types without bitwise kernels, so those tensors
are viewed as the signed type of the same width (the bits, and so the result, are the same).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from robustcheck.backends.onnx.twin.registry import op

_SIGNED_TWIN = {torch.uint16: torch.int16, torch.uint32: torch.int32, torch.uint64: torch.int64}
_UNSIGNED = frozenset({torch.uint8, torch.uint16, torch.uint32, torch.uint64})


def _bits(x: Tensor) -> Tensor:
    signed = _SIGNED_TWIN.get(x.dtype)
    return x if signed is None else x.view(signed)


def _bitwise(fn: Callable[..., Tensor], *inputs: Tensor) -> Tensor:
    dtype = inputs[0].dtype
    result = fn(*(_bits(x) for x in inputs))
    return result.view(dtype) if dtype in _SIGNED_TWIN else result


@op("BitwiseAnd", 18, differentiable=False)
def bitwise_and(a: Tensor, b: Tensor) -> Tensor:
    return _bitwise(torch.bitwise_and, a, b)


@op("BitwiseOr", 18, differentiable=False)
def bitwise_or(a: Tensor, b: Tensor) -> Tensor:
    return _bitwise(torch.bitwise_or, a, b)


@op("BitwiseXor", 18, differentiable=False)
def bitwise_xor(a: Tensor, b: Tensor) -> Tensor:
    return _bitwise(torch.bitwise_xor, a, b)


@op("BitwiseNot", 18, differentiable=False)
def bitwise_not(x: Tensor) -> Tensor:
    return _bitwise(torch.bitwise_not, x)


def _width(dtype: torch.dtype) -> int:
    return torch.iinfo(dtype).bits


def _shift_64(x: Tensor, amount: Tensor, left: bool, unsigned: bool) -> Tensor:
    """A 64-bit shift on the int64 view; ``amount`` is already in [0, 63]."""
    bits = _bits(x)
    if left:
        return bits << amount
    shifted = bits >> amount
    if not unsigned:
        return shifted
    # An arithmetic shift copies the sign bit in; a logical one needs those bits cleared.
    ones = torch.full_like(bits, -1)
    mask = torch.where(amount == 0, ones, (torch.ones_like(bits) << (64 - amount)) - 1)
    return shifted & mask


@op("BitShift", 11, differentiable=False)
@op("BitShift", 28, differentiable=False)
def bit_shift(x: Tensor, y: Tensor, *, direction: str) -> Tensor:
    """Opset 11 shifts unsigned integers; opset 28 adds signed ones (arithmetic right shift)
    and defines a shift that is negative or not below the width: the sign fill alone (-1 for
    a right shift of a negative value, else 0). Opset 11 left that case undefined; the twin
    answers it the opset-28 way."""
    if direction not in ("LEFT", "RIGHT"):
        raise ValueError(f"BitShift direction must be LEFT or RIGHT, got {direction!r}")
    x, y = torch.broadcast_tensors(x, y)
    width, unsigned, left = _width(x.dtype), x.dtype in _UNSIGNED, direction == "LEFT"
    amount = y.to(torch.int64)
    in_range = (amount >= 0) & (amount < width)
    amount = torch.where(in_range, amount, torch.zeros_like(amount))
    if width == 64:
        shifted = _shift_64(x, amount, left, unsigned)
    else:
        wide = x.to(torch.int64)
        wide = wide << amount if left else wide >> amount
        # Keep the low ``width`` bits, read back as the type's two's complement value.
        wide = wide & ((1 << width) - 1)
        if not unsigned:
            wide = torch.where(wide >= 1 << (width - 1), wide - (1 << width), wide)
        shifted = wide.to(_SIGNED_TWIN.get(x.dtype, x.dtype))
    negative = _bits(x) < 0 if not unsigned else torch.zeros_like(in_range)
    fill = torch.where(
        negative & (not left), torch.full_like(shifted, -1), torch.zeros_like(shifted)
    )
    result = torch.where(in_range, shifted, fill)
    return result.view(x.dtype) if x.dtype in _SIGNED_TWIN else result
