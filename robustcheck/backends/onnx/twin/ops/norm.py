"""Normalization layers in inference form, and Dropout (identity at inference)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from robustcheck.backends.onnx.twin.ops._axes import normalize_axis
from robustcheck.backends.onnx.twin.registry import op
from robustcheck.errors import UnsupportedModelError

_LOW_PRECISION = (torch.float16, torch.bfloat16)


def _channel_shape(x: Tensor) -> tuple[int, ...]:
    return (1, -1) + (1,) * (x.dim() - 2)


@op("BatchNormalization", 7)
@op("BatchNormalization", 9)
@op("BatchNormalization", 14)
def batch_normalization(
    x: Tensor,
    scale: Tensor,
    b: Tensor,
    mean: Tensor,
    var: Tensor,
    *,
    epsilon: float = 1e-5,
    momentum: float = 0.9,
    spatial: int = 1,
    training_mode: int = 0,
) -> Tensor:
    """Inference form: the stored statistics, never the batch's own."""
    if training_mode:
        raise UnsupportedModelError(
            "BatchNormalization with training_mode=1 normalizes with batch statistics; "
            "the gradient twin only runs inference graphs"
        )
    if spatial != 1:
        raise UnsupportedModelError("BatchNormalization with spatial=0 is not supported")
    shape = _channel_shape(x)
    inv_std = torch.rsqrt(var.reshape(shape) + epsilon)
    y = (x - mean.reshape(shape)) * inv_std * scale.reshape(shape) + b.reshape(shape)
    return y.to(x.dtype)


@op("InstanceNormalization", 6)
def instance_normalization(x: Tensor, scale: Tensor, b: Tensor, *, epsilon: float = 1e-5) -> Tensor:
    dims = tuple(range(2, x.dim()))
    mean = x.mean(dim=dims, keepdim=True)
    centered = x - mean
    inv_std = torch.rsqrt((centered * centered).mean(dim=dims, keepdim=True) + epsilon)
    shape = _channel_shape(x)
    return centered * inv_std * scale.reshape(shape) + b.reshape(shape)


@op("LRN", 1)
def lrn(
    x: Tensor, *, alpha: float = 1e-4, beta: float = 0.75, bias: float = 1.0, size: int
) -> Tensor:
    """Local response normalization across channels.

    Written out because F.local_response_norm centres an even-sized window one channel
    earlier than ONNX, which puts the extra channel after ``c``.
    """
    batch, channels = x.shape[:2]
    squares = (x * x).reshape(batch, 1, channels, -1)
    before = (size - 1) // 2
    squares = F.pad(squares, (0, 0, before, size - 1 - before))
    sums = F.avg_pool2d(squares, (size, 1), stride=1) * size
    return x / (bias + alpha / size * sums.reshape(x.shape)) ** beta


def _stash(x: Tensor, stash_type: int) -> Tensor:
    # stash_type=1 asks for float32 statistics even when the data is float16/bfloat16.
    return x.to(torch.float32) if stash_type == 1 and x.dtype in _LOW_PRECISION else x


@op("LayerNormalization", 17)
def layer_normalization(
    x: Tensor,
    scale: Tensor,
    b: Tensor | None = None,
    *,
    axis: int = -1,
    epsilon: float = 1e-5,
    stash_type: int = 1,
) -> tuple[Tensor, Tensor, Tensor]:
    dims = tuple(range(normalize_axis(axis, x.dim()), x.dim()))
    work = _stash(x, stash_type)
    mean = work.mean(dim=dims, keepdim=True)
    centered = work - mean
    inv_std = torch.rsqrt((centered * centered).mean(dim=dims, keepdim=True) + epsilon)
    y = (centered * inv_std).to(x.dtype) * scale
    if b is not None:
        y = y + b
    return y, mean, inv_std


@op("RMSNormalization", 23)
def rms_normalization(
    x: Tensor, scale: Tensor, *, axis: int = -1, epsilon: float = 1e-5, stash_type: int = 1
) -> Tensor:
    """``x`` divided by its root mean square over the axes from ``axis`` on, times ``scale``."""
    dims = tuple(range(normalize_axis(axis, x.dim()), x.dim()))
    work = _stash(x, stash_type)
    inv_rms = torch.rsqrt((work * work).mean(dim=dims, keepdim=True) + epsilon)
    return (work * inv_rms).to(x.dtype) * scale


def _group_normalized(x: Tensor, num_groups: int, epsilon: float, stash_type: int) -> Tensor:
    """``x`` standardized within each group, shaped ``(N, num_groups, -1)``."""
    grouped = _stash(x, stash_type).reshape(x.shape[0], num_groups, -1)
    mean = grouped.mean(dim=-1, keepdim=True)
    centered = grouped - mean
    return centered * torch.rsqrt((centered * centered).mean(dim=-1, keepdim=True) + epsilon)


@op("GroupNormalization", 18)
def group_normalization_18(
    x: Tensor, scale: Tensor, bias: Tensor, *, epsilon: float = 1e-5, num_groups: int
) -> Tensor:
    """Opset 18: ``scale`` and ``bias`` hold one value per group."""
    normalized = _group_normalized(x, num_groups, epsilon, stash_type=0)
    y = normalized * scale.reshape(1, -1, 1) + bias.reshape(1, -1, 1)
    return y.reshape(x.shape)


@op("GroupNormalization", 21)
def group_normalization_21(
    x: Tensor,
    scale: Tensor,
    bias: Tensor,
    *,
    epsilon: float = 1e-5,
    num_groups: int,
    stash_type: int = 1,
) -> Tensor:
    """Opset 21: ``scale`` and ``bias`` hold one value per channel."""
    normalized = _group_normalized(x, num_groups, epsilon, stash_type).reshape(x.shape)
    shape = _channel_shape(x)
    return normalized.to(x.dtype) * scale.reshape(shape) + bias.reshape(shape)


@op("LpNormalization", 1)
def lp_normalization(x: Tensor, *, axis: int = -1, p: int = 2) -> Tensor:
    norm = torch.linalg.vector_norm(x, ord=p, dim=axis, keepdim=True)
    # A zero vector stays zero instead of becoming NaN.
    return x / torch.where(norm == 0, torch.ones_like(norm), norm)


@op("Dropout", 7)
def dropout_7(
    x: Tensor, *, ratio: float = 0.5, output_count: int = 1
) -> Tensor | tuple[Tensor, Tensor]:
    """Opsets 7-9: inference is the identity; the mask has the data's type."""
    return x if output_count < 2 else (x, torch.ones_like(x))


@op("Dropout", 10)
def dropout_10(
    x: Tensor, *, ratio: float = 0.5, output_count: int = 1
) -> Tensor | tuple[Tensor, Tensor]:
    """Opsets 10-11: as opset 7, with a boolean mask."""
    return x if output_count < 2 else (x, torch.ones_like(x, dtype=torch.bool))


@op("Dropout", 12)
def dropout_12(
    x: Tensor,
    ratio: Tensor | None = None,
    training_mode: Tensor | None = None,
    *,
    seed: int | None = None,
    output_count: int = 1,
) -> Tensor | tuple[Tensor, Tensor]:
    """Opset 12+: ratio and training_mode became inputs; training mode is random, refused."""
    if training_mode is not None and bool(training_mode.reshape(-1)[0]):
        raise UnsupportedModelError(
            "Dropout with training_mode=true is random; the gradient twin only runs inference graphs"
        )
    return x if output_count < 2 else (x, torch.ones_like(x, dtype=torch.bool))
