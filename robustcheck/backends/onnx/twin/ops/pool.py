"""Pooling: MaxPool, AveragePool, LpPool and their global forms.

Every windowed pool pads explicitly and then pools without padding, so asymmetric pads,
auto_pad, ceil_mode and dilations all follow the ONNX geometry in ``_padding.window``
rather than PyTorch's narrower padding rules.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from robustcheck.backends.onnx.twin.ops._axes import product
from robustcheck.backends.onnx.twin.ops._padding import Window, effective_kernel, torch_pad, window
from robustcheck.backends.onnx.twin.registry import op

_MAX_POOL = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


def _geometry(
    x: Tensor,
    kernel: Sequence[int],
    auto_pad: str,
    ceil_mode: int,
    dilations: Sequence[int] | None,
    pads: Sequence[int] | None,
    strides: Sequence[int] | None,
) -> tuple[Window, list[int], list[int]]:
    rank = len(kernel)
    dilations = list(dilations or [1] * rank)
    strides = list(strides or [1] * rank)
    geometry = window(
        list(x.shape[2:]),
        effective_kernel(kernel, dilations),
        strides,
        auto_pad,
        pads,
        bool(ceil_mode),
    )
    return geometry, dilations, strides


def _onnx_indices(
    torch_indices: Tensor,
    padded: Sequence[int],
    sizes: Sequence[int],
    begins: Sequence[int],
    storage_order: int,
) -> Tensor:
    # PyTorch counts positions within one padded (n, c) plane; ONNX counts them in the
    # unpadded tensor as a whole, row-major (storage_order=0) or column-major (1).
    remaining = torch_indices
    coords: list[Tensor] = []
    for extent in reversed(padded):
        coords.append(remaining % extent)
        remaining = remaining // extent
    coords = [c - b for c, b in zip(reversed(coords), begins, strict=True)]
    order = range(len(sizes)) if storage_order == 0 else reversed(range(len(sizes)))
    flat = torch.zeros_like(torch_indices)
    for axis in order:
        flat = flat * sizes[axis] + coords[axis]
    planes = torch.arange(
        torch_indices.shape[0] * torch_indices.shape[1], device=flat.device
    ).reshape(torch_indices.shape[0], torch_indices.shape[1], *([1] * len(sizes)))
    return flat + planes * product(sizes)


@op("MaxPool", 1)
@op("MaxPool", 8)
@op("MaxPool", 10)
def max_pool(
    x: Tensor,
    *,
    auto_pad: str = "NOTSET",
    ceil_mode: int = 0,
    dilations: Sequence[int] | None = None,
    kernel_shape: Sequence[int],
    pads: Sequence[int] | None = None,
    storage_order: int = 0,
    strides: Sequence[int] | None = None,
    output_count: int = 1,
) -> Tensor | tuple[Tensor, Tensor]:
    geometry, dilations, strides = _geometry(
        x, kernel_shape, auto_pad, ceil_mode, dilations, pads, strides
    )
    # PyTorch has no integer max-pool kernels; float64 holds every int32/uint8 value exactly.
    work = x if x.is_floating_point() else x.to(torch.float64)
    padded = F.pad(work, torch_pad(geometry.begins, geometry.ends), value=float("-inf"))
    pool = _MAX_POOL[len(kernel_shape)]
    if output_count < 2:
        return pool(padded, list(kernel_shape), strides, 0, dilations).to(x.dtype)
    y, indices = pool(padded, list(kernel_shape), strides, 0, dilations, return_indices=True)
    onnx_indices = _onnx_indices(
        indices, padded.shape[2:], x.shape[2:], geometry.begins, storage_order
    )
    return y.to(x.dtype), onnx_indices


def _window_sums(
    x: Tensor, geometry: Window, kernel: Sequence[int], strides: list[int], dilations: list[int]
) -> Tensor:
    """Sum over each pooling window (zero padding), as a ones-kernel convolution."""
    batch, channels, *sizes = x.shape
    planes = F.pad(
        x.reshape(batch * channels, 1, *sizes), torch_pad(geometry.begins, geometry.ends)
    )
    ones = torch.ones((1, 1, *kernel), dtype=x.dtype, device=x.device)
    sums = _CONV[len(kernel)](planes, ones, stride=strides, dilation=dilations)
    return sums.reshape(batch, channels, *sums.shape[2:])


def _window_counts(
    x: Tensor,
    geometry: Window,
    kernel: Sequence[int],
    strides: list[int],
    dilations: list[int],
    include_pad: bool,
) -> Tensor:
    """How many positions each window averages over.

    The declared padding counts when ``count_include_pad`` is set; the extra end padding a
    ceil_mode window reaches into never counts (ONNX and PyTorch agree).
    """
    rank = len(kernel)
    mask = torch.ones((1, 1, *x.shape[2:]), dtype=x.dtype, device=x.device)
    mask = F.pad(mask, torch_pad(geometry.begins, geometry.declared_ends), value=float(include_pad))
    beyond = [e - d for e, d in zip(geometry.ends, geometry.declared_ends, strict=True)]
    mask = F.pad(mask, torch_pad([0] * rank, beyond))
    ones = torch.ones((1, 1, *kernel), dtype=x.dtype, device=x.device)
    return _CONV[rank](mask, ones, stride=strides, dilation=dilations)


@op("AveragePool", 1)
@op("AveragePool", 7)
@op("AveragePool", 10)
@op("AveragePool", 19)
def average_pool(
    x: Tensor,
    *,
    auto_pad: str = "NOTSET",
    ceil_mode: int = 0,
    count_include_pad: int = 0,
    dilations: Sequence[int] | None = None,
    kernel_shape: Sequence[int],
    pads: Sequence[int] | None = None,
    strides: Sequence[int] | None = None,
) -> Tensor:
    geometry, dilations, strides = _geometry(
        x, kernel_shape, auto_pad, ceil_mode, dilations, pads, strides
    )
    sums = _window_sums(x, geometry, kernel_shape, strides, dilations)
    counts = _window_counts(x, geometry, kernel_shape, strides, dilations, bool(count_include_pad))
    return sums / counts


@op("LpPool", 2)
@op("LpPool", 18)
def lp_pool(
    x: Tensor,
    *,
    auto_pad: str = "NOTSET",
    ceil_mode: int = 0,
    dilations: Sequence[int] | None = None,
    kernel_shape: Sequence[int],
    p: int = 2,
    pads: Sequence[int] | None = None,
    strides: Sequence[int] | None = None,
) -> Tensor:
    geometry, dilations, strides = _geometry(
        x, kernel_shape, auto_pad, ceil_mode, dilations, pads, strides
    )
    sums = _window_sums(x.abs() ** p, geometry, kernel_shape, strides, dilations)
    return sums ** (1.0 / p)


@op("GlobalAveragePool", 1)
def global_average_pool(x: Tensor) -> Tensor:
    return x.mean(dim=tuple(range(2, x.dim())), keepdim=True)


@op("GlobalMaxPool", 1)
def global_max_pool(x: Tensor) -> Tensor:
    return x.amax(dim=tuple(range(2, x.dim())), keepdim=True)
