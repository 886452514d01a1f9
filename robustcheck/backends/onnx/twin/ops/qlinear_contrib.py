"""onnxruntime's quantized contrib operators (``com.microsoft``), as its CPU kernels compute
them: QLinearAdd, QLinearMul, QLinearGlobalAveragePool, QLinearAveragePool, QLinearConcat,
QLinearSigmoid, QLinearLeakyRelu and QLinearSoftmax (what ``quantize_static`` makes of Add,
Mul, pooling, Concat, activations and Softmax in the QOperator format).

Every quantized tensor here has one scale and one zero point. Operands may be real integer
tensors or carried integers (see ``_quantization``); rounding is straight through. Where a
kernel computes in float32 the twin does too, step by step (a fused multiply-add is one float64
multiply-add rounded once to float32, float64 holding the float32 product exactly), so the
integers match onnxruntime's bit for bit.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from robustcheck.backends.onnx.twin.ops._axes import normalize_axis, product
from robustcheck.backends.onnx.twin.ops._padding import Window, torch_pad, window
from robustcheck.backends.onnx.twin.ops._quantization import (
    carried,
    centred,
    clamp_to,
    emit,
    exact,
    requantize,
    straight_round,
)
from robustcheck.backends.onnx.twin.registry import op
from robustcheck.errors import UnsupportedModelError

MS = "com.microsoft"


def _f32(x: Tensor | float) -> Tensor:
    """A scale (or zero point) as a float32 scalar."""
    value = x if isinstance(x, Tensor) else torch.tensor(x)
    return value.reshape(()).to(torch.float32)


def _fma(x: Tensor, y: Tensor, z: Tensor) -> Tensor:
    """``x * y + z`` rounded once to float32, as a fused multiply-add does."""
    return (exact(x) * exact(y) + exact(z)).to(torch.float32)


def _zero_point(zero_point: Tensor | None, like: Tensor) -> Tensor:
    """An omitted zero point is 0 of the tensor's own type (uint8 for a carried one)."""
    if zero_point is not None:
        return zero_point.reshape(())
    dtype = torch.uint8 if like.is_floating_point() else like.dtype
    return torch.zeros((), dtype=dtype)


def _dequantized(x: Tensor, scale: Tensor, zero_point: Tensor) -> Tensor:
    """``scale * (x - zero_point)`` in float32: the integer difference, then one multiply."""
    return centred(x, exact(zero_point)).to(torch.float32) * _f32(scale)


def _quantized(values: Tensor, scale: Tensor, zero_point: Tensor, keep_carried: bool) -> Tensor:
    """MlasQuantizeLinear: divide by the scale in float32, round half to even, shift,
    saturate."""
    rounded = straight_round(values / _f32(scale)) + exact(zero_point).to(torch.float32)
    return emit(clamp_to(rounded, zero_point.dtype), zero_point.dtype, keep_carried)


def _scalar_operand(a: Tensor, b: Tensor) -> str | None:
    """Which operand onnxruntime's broadcasting loop hands the kernel as one value per span:
    a single-element tensor, or the one broadcast along the innermost axis that varies."""
    if a.numel() == 1:
        return "a"
    if b.numel() == 1:
        return "b"
    shape = torch.broadcast_shapes(a.shape, b.shape)
    rank = len(shape)
    left = [1] * (rank - a.dim()) + list(a.shape)
    right = [1] * (rank - b.dim()) + list(b.shape)
    varying = [axis for axis in range(rank) if shape[axis] > 1]
    if not varying:
        return None
    last = varying[-1]
    if left[last] == 1:
        return "a"
    if right[last] == 1:
        return "b"
    return None


@op("QLinearAdd", 1, domain=MS, straight_through=True)
def qlinear_add(
    a: Tensor,
    a_scale: Tensor,
    a_zero_point: Tensor | None,
    b: Tensor,
    b_scale: Tensor,
    b_zero_point: Tensor | None = None,
    c_scale: Tensor | None = None,
    c_zero_point: Tensor | None = None,
) -> Tensor:
    """MLAS's AVX2 kernel: ``a * (sa/sc) + b * (sb/sc) + (zc - (za*sa/sc + zb*sb/sc))`` in
    float32 with fused multiply-adds, in an order that depends on which operand is a single
    value per broadcast span."""
    if c_scale is None:
        raise UnsupportedModelError("QLinearAdd without C_scale is not a valid model")
    za, zb = _zero_point(a_zero_point, a), _zero_point(b_zero_point, b)
    zc = _zero_point(c_zero_point, a)
    ratio_a, ratio_b = _f32(a_scale) / _f32(c_scale), _f32(b_scale) / _f32(c_scale)
    scalar = _scalar_operand(a, b)
    # The kernel takes the operand that varies within a span as its first.
    first, ratio_first, zero_first = (b, ratio_b, zb) if scalar == "a" else (a, ratio_a, za)
    second, ratio_second, zero_second = (a, ratio_a, za) if scalar == "a" else (b, ratio_b, zb)
    offset = ratio_first * exact(zero_first).float() + ratio_second * exact(zero_second).float()
    fixed = exact(zc).float() - offset
    if scalar is None:
        values = _fma(exact(first), ratio_first, _fma(exact(second), ratio_second, fixed))
    else:
        fixed = fixed + exact(second).float() * ratio_second
        values = _fma(exact(first), ratio_first, fixed)
    values = clamp_to(straight_round(values), zc.dtype)
    return emit(values, zc.dtype, carried(a, b))


@op("QLinearMul", 1, domain=MS, straight_through=True)
def qlinear_mul(
    a: Tensor,
    a_scale: Tensor,
    a_zero_point: Tensor | None,
    b: Tensor,
    b_scale: Tensor,
    b_zero_point: Tensor | None = None,
    c_scale: Tensor | None = None,
    c_zero_point: Tensor | None = None,
) -> Tensor:
    """MLAS's SSE2 kernel: the exact integer product in float32, times ``sa*sb/sc``, plus
    ``zc``, rounded half to even."""
    if c_scale is None:
        raise UnsupportedModelError("QLinearMul without C_scale is not a valid model")
    za, zb = _zero_point(a_zero_point, a), _zero_point(b_zero_point, b)
    zc = _zero_point(c_zero_point, a)
    ratio = _f32(a_scale) * _f32(b_scale) / _f32(c_scale)
    products = (centred(a, exact(za)) * centred(b, exact(zb))).to(torch.float32)
    values = straight_round(products * ratio + exact(zc).float())
    return emit(clamp_to(values, zc.dtype), zc.dtype, carried(a, b))


@op("QLinearGlobalAveragePool", 1, domain=MS, straight_through=True)
def qlinear_global_average_pool(
    x: Tensor,
    x_scale: Tensor,
    x_zero_point: Tensor,
    y_scale: Tensor,
    y_zero_point: Tensor,
    *,
    channels_last: int = 0,
) -> Tensor:
    """The exact integer sum, requantized by ``sx / (sy * size)`` (float32)."""
    spatial = list(range(1, x.dim() - 1)) if channels_last else list(range(2, x.dim()))
    size = product([x.shape[axis] for axis in spatial])
    sums = centred(x, exact(x_zero_point).reshape(())).sum(dim=spatial, keepdim=True)
    multiplier = _f32(x_scale) / (_f32(y_scale) * float(size))
    return requantize(sums, multiplier, y_zero_point.reshape(()), carried(x))


def _window_counts(
    sizes: Sequence[int], kernel: Sequence[int], geometry: Window, strides: list[int]
) -> Tensor:
    """onnxruntime's divisor without ``count_include_pad``: the window clipped to the input."""
    counts = torch.ones(())
    for n, k, s, b, outputs in zip(
        sizes, kernel, strides, geometry.begins, geometry.outputs, strict=True
    ):
        starts = torch.arange(outputs) * s - b
        extent = torch.clamp(starts + k, max=n) - torch.clamp(starts, min=0)
        counts = counts.unsqueeze(-1) * extent.to(torch.float32)
    return counts


def _window_sums(x: Tensor, kernel: Sequence[int], geometry: Window, strides: list[int]) -> Tensor:
    """Each window's float32 sum in the kernel's order (row-major over the window), which
    fixes the rounding; zeros stand for the padding, adding them is exact."""
    padded = torch.nn.functional.pad(x, torch_pad(geometry.begins, geometry.ends))
    total = torch.zeros((*x.shape[:2], *geometry.outputs), dtype=torch.float32, device=x.device)
    for offsets in itertools.product(*(range(k) for k in kernel)):
        index = [slice(None), slice(None)]
        for offset, s, outputs in zip(offsets, strides, geometry.outputs, strict=True):
            index.append(slice(offset, offset + (outputs - 1) * s + 1, s))
        total = total + padded[tuple(index)]
    return total


@op("QLinearAveragePool", 1, domain=MS, straight_through=True)
def qlinear_average_pool(
    x: Tensor,
    x_scale: Tensor,
    x_zero_point: Tensor | None,
    y_scale: Tensor,
    y_zero_point: Tensor | None = None,
    *,
    auto_pad: str = "NOTSET",
    ceil_mode: int = 0,
    channels_last: int = 0,
    count_include_pad: int = 0,
    kernel_shape: Sequence[int],
    pads: Sequence[int] | None = None,
    strides: Sequence[int] | None = None,
) -> Tensor:
    """Dequantized to float32, summed window by window, divided by the count, quantized."""
    if channels_last:
        x = x.movedim(-1, 1)
    zero_point = _zero_point(x_zero_point, x)
    strides = list(strides or [1] * len(kernel_shape))
    sizes = list(x.shape[2:])
    geometry = window(sizes, kernel_shape, strides, auto_pad, pads, bool(ceil_mode))
    sums = _window_sums(_dequantized(x, x_scale, zero_point), kernel_shape, geometry, strides)
    if count_include_pad:
        means = sums / float(product(kernel_shape))
    else:
        means = sums / _window_counts(sizes, kernel_shape, geometry, strides).to(x.device)
    y = _quantized_nearest(means, y_scale, _zero_point(y_zero_point, x), carried(x))
    return y.movedim(1, -1) if channels_last else y


def _quantized_nearest(values: Tensor, scale: Tensor, zero_point: Tensor, keep: bool) -> Tensor:
    """``nearbyint(v / scale + zero_point)``, saturated (the pooling kernels' own rounding)."""
    rounded = straight_round(values / _f32(scale) + exact(zero_point).to(torch.float32))
    return emit(clamp_to(rounded, zero_point.dtype), zero_point.dtype, keep)


@op("QLinearConcat", 1, domain=MS, straight_through=True)
def qlinear_concat(y_scale: Tensor, y_zero_point: Tensor, *inputs: Tensor, axis: int) -> Tensor:
    """Each input ``(x, scale, zero_point)`` requantized to the output's (a copy where they
    already agree), through onnxruntime's table: dequantize in float32, quantize."""
    if len(inputs) % 3 or not inputs:
        raise UnsupportedModelError("QLinearConcat takes (tensor, scale, zero point) triples")
    triples = [inputs[i : i + 3] for i in range(0, len(inputs), 3)]
    keep = carried(*(x for x, _, _ in triples))
    zero_point = y_zero_point.reshape(())
    parts = []
    for x, scale, x_zero_point in triples:
        same = bool(_f32(scale) == _f32(y_scale)) and bool(
            exact(x_zero_point).reshape(()) == exact(zero_point)
        )
        if same:
            parts.append(emit(exact(x) if keep else x, zero_point.dtype, keep))
        else:
            dequantized = _dequantized(x, scale, x_zero_point.reshape(()))
            parts.append(_quantized(dequantized, y_scale, zero_point, keep))
    return torch.cat(parts, dim=normalize_axis(axis, parts[0].dim()))


def _lookup(
    x: Tensor,
    x_scale: Tensor,
    x_zero_point: Tensor | None,
    y_scale: Tensor,
    y_zero_point: Tensor | None,
    fn: Callable[[Tensor], Tensor],
) -> Tensor:
    """onnxruntime's 256-entry table, computed element by element: ``fn`` of the dequantized
    value, quantized to the output."""
    x_zero = _zero_point(x_zero_point, x)
    y_zero = _zero_point(y_zero_point, x)
    values = fn(_dequantized(x, x_scale, x_zero))
    return _quantized(values, y_scale, y_zero, carried(x))


@op("QLinearLeakyRelu", 1, domain=MS, straight_through=True)
def qlinear_leaky_relu(
    x: Tensor,
    x_scale: Tensor,
    x_zero_point: Tensor | None,
    y_scale: Tensor,
    y_zero_point: Tensor | None = None,
    *,
    alpha: float = 0.01,
) -> Tensor:
    slope = _f32(alpha)
    return _lookup(
        x, x_scale, x_zero_point, y_scale, y_zero_point, lambda v: torch.where(v >= 0, v, v * slope)
    )


# MlasComputeLogistic's rational approximation (Eigen's coefficients), float32.
_LOGISTIC_RANGE = 18.0
_ALPHA = (
    4.37031012579801e-11,
    1.15627324459942e-07,
    6.08574864600143e-05,
    8.51377133304701e-03,
    2.48287947061529e-01,
)
_BETA = (
    6.10247389755681e-13,
    5.76102136993427e-09,
    6.29106785017040e-06,
    1.70198817374094e-03,
    1.16817656904453e-01,
    9.93151921023180e-01,
)


def _horner(square: Tensor, coefficients: Sequence[float]) -> Tensor:
    result = _f32(coefficients[0]).expand_as(square)
    for coefficient in coefficients[1:]:
        result = _fma(result, square, _f32(coefficient))
    return result


def _mlas_logistic(v: Tensor) -> Tensor:
    """The logistic function as MLAS's FMA kernel computes it; its gradient is the true
    sigmoid's (straight through the approximation)."""
    clipped = v.detach().clamp(-_LOGISTIC_RANGE, _LOGISTIC_RANGE)
    square = clipped * clipped
    p = _horner(square, _ALPHA) * clipped
    q = _horner(square, _BETA)
    approximated = (p / q + 0.5).clamp(0.0, 1.0)
    smooth = torch.sigmoid(v)
    return approximated + (smooth - smooth.detach())


@op("QLinearSigmoid", 1, domain=MS, straight_through=True)
def qlinear_sigmoid(
    x: Tensor,
    x_scale: Tensor,
    x_zero_point: Tensor | None,
    y_scale: Tensor,
    y_zero_point: Tensor | None = None,
) -> Tensor:
    return _lookup(x, x_scale, x_zero_point, y_scale, y_zero_point, _mlas_logistic)


def _softmax_shift(x_scale: float, length: int) -> float:
    """onnxruntime's headroom: the table's exponents are shifted so that ``length`` float32
    terms cannot overflow their sum (less 5 nats of reserve)."""
    headroom = math.log(float(torch.finfo(torch.float32).max / torch.tensor(float(length))))
    return max(0.0, headroom - 5.0) / x_scale


def _softmax_rows(x: Tensor, x_scale: Tensor, y_scale: Tensor, y_zero_point: Tensor) -> Tensor:
    """onnxruntime's integer softmax over the last axis: float32 exponentials from a table of
    ``exp((x - max + shift) * scale)`` (float64, then float32), a sequential float32 sum,
    ``nearbyint(e * floor(1 / y_scale) / sum) + zero point``, saturated."""
    scale = float(_f32(x_scale))
    values = exact(x.detach())
    shift = _softmax_shift(scale, x.shape[-1])
    exponents = torch.exp((values - values.amax(-1, keepdim=True) + shift) * scale).float()
    total = torch.zeros(exponents.shape[:-1], dtype=torch.float32, device=x.device)
    for column in exponents.unbind(-1):
        total = total + column
    multiplier = torch.floor(1.0 / _f32(y_scale))
    quotients = torch.round(exponents * multiplier / total.unsqueeze(-1))
    return clamp_to(exact(quotients) + exact(y_zero_point), y_zero_point.dtype)


@op("QLinearSoftmax", 1, domain=MS, straight_through=True)
def qlinear_softmax(
    x: Tensor,
    x_scale: Tensor,
    x_zero_point: Tensor | None,
    y_scale: Tensor,
    y_zero_point: Tensor | None = None,
    *,
    axis: int | None = None,
    opset: int,
) -> Tensor:
    """Softmax over ``axis`` (opset 13 on) or over everything from ``axis`` on (earlier
    opsets, as Softmax-1 and -11 flatten); the gradient is the float softmax's, dequantized
    and scaled like the output."""
    if x.dtype not in (torch.uint8, torch.int8) and not x.is_floating_point():
        raise UnsupportedModelError(f"QLinearSoftmax takes uint8 or int8, not {x.dtype}")
    zero_point = _zero_point(y_zero_point, x)
    if zero_point.dtype not in (torch.uint8, torch.int8):
        raise UnsupportedModelError(f"QLinearSoftmax outputs uint8 or int8, not {zero_point.dtype}")
    dim = normalize_axis(axis if axis is not None else (-1 if opset >= 13 else 1), x.dim())
    rows = x.movedim(dim, -1) if opset >= 13 else x.flatten(dim)
    integers = _softmax_rows(rows, x_scale, y_scale, zero_point)
    smooth = torch.softmax(exact(rows) * float(_f32(x_scale)), dim=-1) / _f32(y_scale)
    # Exactly the integers forward (the difference is zero), the smooth softmax's gradient.
    values = integers + (smooth - smooth.detach())
    values = values.movedim(-1, dim) if opset >= 13 else values.reshape(x.shape)
    return emit(values, zero_point.dtype, carried(x))
