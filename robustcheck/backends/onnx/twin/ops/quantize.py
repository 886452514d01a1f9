"""Linear quantization: QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear.

Quantized outputs on the differentiable path are carried integers with a straight-through
gradient (see ``_quantization``); off it they are the real integer tensors.
"""

from __future__ import annotations

import torch
from torch import Tensor

from robustcheck.backends.onnx.twin.ops._quantization import (
    centred,
    clamp_to,
    emit,
    on_gradient_path,
    per_axis,
    straight_round,
)
from robustcheck.backends.onnx.twin.registry import op
from robustcheck.backends.onnx.twin.tensors import torch_dtype


@op("QuantizeLinear", 10, straight_through=True)
@op("QuantizeLinear", 13, straight_through=True)
@op("QuantizeLinear", 19, straight_through=True)
@op("QuantizeLinear", 21, straight_through=True)
@op("QuantizeLinear", 23, straight_through=True)
def quantize_linear(
    x: Tensor,
    y_scale: Tensor,
    y_zero_point: Tensor | None = None,
    *,
    axis: int = 1,
    block_size: int = 0,
    output_dtype: int = 0,
    precision: int = 0,
    saturate: int = 1,
) -> Tensor:
    """``saturate`` only concerns float8 outputs, which are refused."""
    if y_zero_point is not None:
        dtype = y_zero_point.dtype
    else:
        dtype = torch_dtype(output_dtype) if output_dtype else torch.uint8
    # The scale's type (or ``precision``) sets the precision of the division, as in the spec.
    compute = torch_dtype(precision) if precision else y_scale.dtype
    scaled = x.to(compute) / per_axis(y_scale, x, axis, block_size).to(compute)
    values = straight_round(scaled)
    if y_zero_point is not None:
        values = values + per_axis(y_zero_point, x, axis, block_size).to(compute)
    return emit(clamp_to(values, dtype), dtype, on_gradient_path(x))


@op("DequantizeLinear", 10)
@op("DequantizeLinear", 13)
@op("DequantizeLinear", 21)
@op("DequantizeLinear", 23)
def dequantize_linear(
    x: Tensor,
    x_scale: Tensor,
    x_zero_point: Tensor | None = None,
    *,
    axis: int = 1,
    block_size: int = 0,
    output_dtype: int = 0,
) -> Tensor:
    """``(x - zero_point) * scale``: the difference is exact, then converted to the output type
    and multiplied in it, as onnxruntime does."""
    dtype = torch_dtype(output_dtype) if output_dtype else x_scale.dtype
    zero_point = None if x_zero_point is None else per_axis(x_zero_point, x, axis, block_size)
    scale = per_axis(x_scale, x, axis, block_size).to(dtype)
    return centred(x, zero_point).to(dtype) * scale


@op("DynamicQuantizeLinear", 11, straight_through=True)
def dynamic_quantize_linear(x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """uint8 quantization with a scale and zero point from the data's range (0 included).

    Scale and zero point are taken as constants for the gradient (as in fake-quantization
    training); dequantizing cancels them on the straight-through path anyway.
    """
    data = x.detach()
    low = torch.clamp(data.min(), max=0.0)
    high = torch.clamp(data.max(), min=0.0)
    # onnxruntime's guard for an all-zero input, which the spec leaves undefined.
    scale = torch.where(high == low, torch.ones_like(high), (high - low) / 255.0)
    zero_point = torch.round(torch.clamp(-low / scale, 0.0, 255.0))
    values = clamp_to(straight_round(x / scale) + zero_point, torch.uint8)
    return emit(values, torch.uint8, on_gradient_path(x)), scale, zero_point.to(torch.uint8)
