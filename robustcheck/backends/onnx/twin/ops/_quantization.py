"""Arithmetic shared by the quantization operators.

On the differentiable path an integer tensor is carried as a floating tensor holding exactly the
integers onnxruntime computes (see :func:`emit`): torch autograd cannot flow through integer
dtypes, and rounding has a zero gradient almost everywhere. Rounding is therefore straight
through (BPDA, Athalye et al. 2018, https://arxiv.org/abs/1802.00420): forward as deployed,
backward as the identity, and zero where the value saturates, as a clip's gradient is. A
floating tensor where ONNX has an integer type is such a carried integer; constant weights stay
real integer tensors.
"""

from __future__ import annotations

import torch
from torch import Tensor

from robustcheck.backends.onnx.twin.ops._clamp import clamp_inclusive
from robustcheck.errors import UnsupportedModelError

_RANGES: dict[torch.dtype, tuple[int, int]] = {
    torch.uint8: (0, 255),
    torch.int8: (-128, 127),
    torch.uint16: (0, 65535),
    torch.int16: (-32768, 32767),
    torch.int32: (-(2**31), 2**31 - 1),
}


def integer_range(dtype: torch.dtype) -> tuple[int, int]:
    try:
        return _RANGES[dtype]
    except KeyError:
        raise UnsupportedModelError(
            f"the gradient twin quantizes to int8, uint8, int16, uint16 and int32, not {dtype}"
        ) from None


def on_gradient_path(x: Tensor) -> bool:
    """Whether the float tensor ``x`` takes part in a gradient being recorded."""
    return torch.is_grad_enabled() and x.requires_grad


def carried(*operands: Tensor | None) -> bool:
    """Whether any integer operand arrives as a carried integer (a floating tensor)."""
    return any(t is not None and t.is_floating_point() for t in operands)


def straight_round(x: Tensor) -> Tensor:
    """Round half to even forward, identity backward."""
    return x + (torch.round(x) - x).detach()


def emit(values: Tensor, dtype: torch.dtype, keep_carried: bool) -> Tensor:
    """``values`` (exact integers in a floating tensor, saturated to ``dtype``) carried as floats
    on the differentiable path, else as the real integer tensor."""
    if keep_carried:
        # float32 holds every 8- and 16-bit integer exactly; int32 needs float64.
        wide = torch.float64 if dtype == torch.int32 else torch.float32
        return values.to(torch.promote_types(values.dtype, wide))
    return values.detach().to(dtype)


def clamp_to(values: Tensor, dtype: torch.dtype) -> Tensor:
    low, high = integer_range(dtype)
    return clamp_inclusive(values, low, high)  # a value rounded onto a bound can move inwards


def exact(x: Tensor) -> Tensor:
    """A real or carried integer tensor as float64, where sums of 8- and 16-bit products and
    32-bit accumulators are exact."""
    return x.to(torch.float64)


def per_axis(param: Tensor, x: Tensor, axis: int, block_size: int = 0) -> Tensor:
    """A scale or zero point shaped to broadcast against ``x``: a scalar (per tensor), a 1-D
    tensor along ``axis`` (per axis), or ``x``'s rank with ``axis`` blocked by ``block_size``."""
    if block_size > 0:
        axis %= x.dim()
        if param.dim() != x.dim():
            raise ValueError(f"blocked quantization needs a parameter of rank {x.dim()}")
        expanded = param.repeat_interleave(block_size, dim=axis)
        return expanded.narrow(axis, 0, x.shape[axis])
    if param.dim() == 0 or (param.dim() == 1 and param.numel() == 1):
        return param.reshape(())
    axis %= x.dim()
    if param.dim() != 1 or param.shape[0] != x.shape[axis]:
        raise ValueError(
            f"a per-axis parameter of shape {list(param.shape)} does not fit axis {axis} of an "
            f"input of shape {list(x.shape)}"
        )
    shape = [1] * x.dim()
    shape[axis] = -1
    return param.reshape(shape)


def centred(x: Tensor, zero_point: Tensor | None) -> Tensor:
    """``x - zero_point`` in float64 (exact); ``zero_point`` already shaped to broadcast."""
    values = exact(x)
    return values if zero_point is None else values - exact(zero_point)


def requantize(
    accumulator: Tensor, multiplier: Tensor, zero_point: Tensor, keep_carried: bool
) -> Tensor:
    """An int32 accumulator scaled to the output's quantization, as onnxruntime does it: the
    accumulator and the multiplier in float32, rounded half to even, shifted, saturated."""
    compute = torch.promote_types(multiplier.dtype, torch.float32)
    scaled = accumulator.to(compute) * multiplier.to(compute)
    values = clamp_to(straight_round(scaled) + zero_point.to(compute), zero_point.dtype)
    return emit(values, zero_point.dtype, keep_carried)
