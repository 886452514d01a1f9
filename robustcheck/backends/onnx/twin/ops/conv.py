"""Convolutions: Conv and ConvTranspose in 1, 2 and 3 spatial dimensions."""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor

from robustcheck.backends.onnx.twin.ops._padding import (
    effective_kernel,
    split_pads,
    torch_pad,
    window,
)
from robustcheck.backends.onnx.twin.registry import op

_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
_CONV_TRANSPOSE = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}


def _spatial_rank(x: Tensor) -> int:
    rank = x.dim() - 2
    if rank not in _CONV:
        raise ValueError(
            f"convolutions need 1 to 3 spatial dimensions, got input of rank {x.dim()}"
        )
    return rank


@op("Conv", 1)
def conv(
    x: Tensor,
    w: Tensor,
    b: Tensor | None = None,
    *,
    auto_pad: str = "NOTSET",
    dilations: Sequence[int] | None = None,
    group: int = 1,
    kernel_shape: Sequence[int] | None = None,
    pads: Sequence[int] | None = None,
    strides: Sequence[int] | None = None,
) -> Tensor:
    rank = _spatial_rank(x)
    dilations = list(dilations or [1] * rank)
    strides = list(strides or [1] * rank)
    kernel = list(kernel_shape or w.shape[2:])
    geometry = window(
        list(x.shape[2:]), effective_kernel(kernel, dilations), strides, auto_pad, pads
    )
    declared_ends = geometry.declared_ends
    if geometry.begins == declared_ends:
        # Symmetric padding is done inside the convolution kernel, without a padded copy.
        padding = geometry.begins
    else:
        x = F.pad(x, torch_pad(geometry.begins, declared_ends))
        padding = [0] * rank
    return _CONV[rank](x, w, b, stride=strides, padding=padding, dilation=dilations, groups=group)


def _transpose_pads(total: list[int], auto_pad: str) -> tuple[list[int], list[int]]:
    # The ONNX spec puts the odd unit of padding at the end only for SAME_UPPER.
    if auto_pad == "SAME_UPPER":
        return [t // 2 for t in total], [t - t // 2 for t in total]
    return [t - t // 2 for t in total], [t // 2 for t in total]


@op("ConvTranspose", 1)
def conv_transpose(
    x: Tensor,
    w: Tensor,
    b: Tensor | None = None,
    *,
    auto_pad: str = "NOTSET",
    dilations: Sequence[int] | None = None,
    group: int = 1,
    kernel_shape: Sequence[int] | None = None,
    output_padding: Sequence[int] | None = None,
    output_shape: Sequence[int] | None = None,
    pads: Sequence[int] | None = None,
    strides: Sequence[int] | None = None,
) -> Tensor:
    """Full transposed convolution, then ONNX pads/output_padding applied as one crop-or-pad.

    PyTorch only takes symmetric padding and small output_padding; cropping the full result
    handles every ONNX combination (asymmetric pads, output_shape, SAME_*) the same way.
    """
    rank = _spatial_rank(x)
    dilations = list(dilations or [1] * rank)
    strides = list(strides or [1] * rank)
    kernel = effective_kernel(list(kernel_shape or w.shape[2:]), dilations)
    extra = list(output_padding or [0] * rank)
    sizes = list(x.shape[2:])
    full = [s * (n - 1) + e + k for n, s, e, k in zip(sizes, strides, extra, kernel, strict=True)]
    if output_shape:
        target = list(output_shape[-rank:])
        begins, ends = _transpose_pads([f - t for f, t in zip(full, target, strict=True)], auto_pad)
    elif auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        target = [n * s for n, s in zip(sizes, strides, strict=True)]
        begins, ends = _transpose_pads([f - t for f, t in zip(full, target, strict=True)], auto_pad)
    else:
        begins, ends = split_pads(pads, rank)
    y = _CONV_TRANSPOSE[rank](x, w, None, stride=strides, dilation=dilations, groups=group)
    y = F.pad(y, torch_pad([-p for p in begins], [e - p for e, p in zip(extra, ends, strict=True)]))
    if b is not None:
        y = y + b.reshape(1, -1, *([1] * rank))
    return y
