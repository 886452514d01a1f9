"""Integer matrix products and convolutions: MatMulInteger, ConvInteger, QLinearMatMul,
QLinearConv, and onnxruntime's com.microsoft::QGemm.

Operands may be real integer tensors (weights) or carried integers (activations on the
differentiable path, see ``_quantization``). Products are summed in float64, exactly as an
int32 accumulator sums them (short of a 32-bit overflow, which the spec forbids).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from robustcheck.backends.onnx.twin.ops._quantization import (
    carried,
    centred,
    emit,
    exact,
    requantize,
)
from robustcheck.backends.onnx.twin.ops.conv import conv
from robustcheck.backends.onnx.twin.registry import op


def _per_row(param: Tensor | None) -> Tensor | None:
    """The left operand's per-row parameter (``[M]``) as a column; a scalar, or the N-D form
    (``[..., M, 1]``), broadcasts as given. The right operand's per-column ``[N]`` (or
    ``[..., 1, N]``) broadcasts as given too."""
    if param is None or param.dim() != 1:
        return param
    return param.reshape(()) if param.numel() == 1 else param.reshape(-1, 1)


def _integer_matmul(
    a: Tensor, b: Tensor, a_zero_point: Tensor | None, b_zero_point: Tensor | None
) -> Tensor:
    return torch.matmul(centred(a, _per_row(a_zero_point)), centred(b, b_zero_point))


@op("MatMulInteger", 10)
def matmul_integer(
    a: Tensor, b: Tensor, a_zero_point: Tensor | None = None, b_zero_point: Tensor | None = None
) -> Tensor:
    accumulator = _integer_matmul(a, b, a_zero_point, b_zero_point)
    return emit(accumulator, torch.int32, carried(a, b))


@op("QLinearMatMul", 10, straight_through=True)
def qlinear_matmul(
    a: Tensor,
    a_scale: Tensor,
    a_zero_point: Tensor,
    b: Tensor,
    b_scale: Tensor,
    b_zero_point: Tensor,
    y_scale: Tensor,
    y_zero_point: Tensor,
) -> Tensor:
    accumulator = _integer_matmul(a, b, a_zero_point, b_zero_point)
    multiplier = _float32(a_scale.reshape(-1, 1) if a_scale.dim() == 1 else a_scale)
    multiplier = multiplier * _float32(b_scale) / _float32(y_scale)
    return requantize(accumulator, multiplier, y_zero_point, carried(a, b))


def _float32(scale: Tensor) -> Tensor:
    return scale.to(torch.promote_types(scale.dtype, torch.float32))


def _per_channel(param: Tensor, trailing: int) -> Tensor:
    """A per-tensor (scalar) or per-output-channel (``[M]``) parameter, shaped to broadcast
    over an axis followed by ``trailing`` axes."""
    if param.numel() == 1:
        return param.reshape(())
    return param.reshape(-1, *([1] * trailing))


def _centred_operands(
    x: Tensor, w: Tensor, x_zero_point: Tensor | None, w_zero_point: Tensor | None
) -> tuple[Tensor, Tensor]:
    # The convolution then pads the centred input with zeros, i.e. the stored one with its
    # zero point, as onnxruntime pads.
    left = centred(x, None if x_zero_point is None else x_zero_point.reshape(()))
    zero_point = None if w_zero_point is None else _per_channel(w_zero_point, w.dim() - 1)
    return left, centred(w, zero_point)


@op("ConvInteger", 10)
def conv_integer(
    x: Tensor,
    w: Tensor,
    x_zero_point: Tensor | None = None,
    w_zero_point: Tensor | None = None,
    *,
    auto_pad: str = "NOTSET",
    dilations: Sequence[int] | None = None,
    group: int = 1,
    kernel_shape: Sequence[int] | None = None,
    pads: Sequence[int] | None = None,
    strides: Sequence[int] | None = None,
) -> Tensor:
    left, right = _centred_operands(x, w, x_zero_point, w_zero_point)
    accumulator = conv(
        left,
        right,
        auto_pad=auto_pad,
        dilations=dilations,
        group=group,
        kernel_shape=kernel_shape,
        pads=pads,
        strides=strides,
    )
    return emit(accumulator, torch.int32, carried(x, w))


@op("QLinearConv", 10, straight_through=True)
def qlinear_conv(
    x: Tensor,
    x_scale: Tensor,
    x_zero_point: Tensor,
    w: Tensor,
    w_scale: Tensor,
    w_zero_point: Tensor,
    y_scale: Tensor,
    y_zero_point: Tensor,
    b: Tensor | None = None,
    *,
    auto_pad: str = "NOTSET",
    dilations: Sequence[int] | None = None,
    group: int = 1,
    kernel_shape: Sequence[int] | None = None,
    pads: Sequence[int] | None = None,
    strides: Sequence[int] | None = None,
) -> Tensor:
    left, right = _centred_operands(x, w, x_zero_point, w_zero_point)
    accumulator = conv(
        left,
        right,
        auto_pad=auto_pad,
        dilations=dilations,
        group=group,
        kernel_shape=kernel_shape,
        pads=pads,
        strides=strides,
    )
    spatial = accumulator.dim() - 2
    if b is not None:  # int32, at scale x_scale * w_scale and zero point 0
        accumulator = accumulator + _per_channel(b.to(torch.float64), spatial)
    channel_scale = _per_channel(_float32(w_scale), spatial)
    multiplier = _float32(x_scale).reshape(()) * channel_scale / _float32(y_scale).reshape(())
    return requantize(accumulator, multiplier, y_zero_point.reshape(()), carried(x, w))


@op("QGemm", 1, domain="com.microsoft", straight_through=True)
def qgemm(
    a: Tensor,
    a_scale: Tensor,
    a_zero_point: Tensor,
    b: Tensor,
    b_scale: Tensor,
    b_zero_point: Tensor,
    c: Tensor | None = None,
    y_scale: Tensor | None = None,
    y_zero_point: Tensor | None = None,
    *,
    alpha: float = 1.0,
    transA: int = 0,  # attribute names, hence the camel case
    transB: int = 0,
) -> Tensor:
    """onnxruntime's quantized Gemm (what ``quantize_static`` makes of a Gemm in the QOperator
    format): an int32 bias ``c`` joins the accumulator; without ``y_scale`` the output is
    float, else requantized to ``y_zero_point``'s type."""
    left = a.transpose(0, 1) if transA else a
    right = b.transpose(0, 1) if transB else b
    zero_point = b_zero_point.reshape(-1) if b_zero_point.dim() == 1 else b_zero_point
    accumulator = torch.matmul(centred(left, a_zero_point), centred(right, zero_point))
    if c is not None:
        accumulator = accumulator + exact(c)
    multiplier = alpha * _float32(a_scale) * _float32(b_scale)
    if y_scale is None:
        return accumulator.to(multiplier.dtype) * multiplier
    if y_zero_point is None:
        y_zero_point = torch.zeros((), dtype=torch.uint8)
    return requantize(accumulator, multiplier / _float32(y_scale), y_zero_point, carried(a, b))
