"""Indexing: Slice, Gather*, Scatter*, Compress, ReverseSequence, NonZero, Trilu, OneHot."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from robustcheck.backends.onnx.twin.ops._axes import (
    as_int,
    as_ints,
    normalize_axes,
    normalize_axis,
    product,
)
from robustcheck.backends.onnx.twin.registry import op

_END_OF_AXIS = frozenset({2**31 - 1, 2**63 - 1})


def _clamp(value: int, low: int, high: int) -> int:
    return max(low, min(value, high))


def _slice(
    x: Tensor,
    starts: Sequence[int],
    ends: Sequence[int],
    axes: Sequence[int] | None,
    steps: Sequence[int] | None,
) -> Tensor:
    axes = normalize_axes(axes if axes else range(len(starts)), x.dim())
    steps = steps if steps else [1] * len(starts)
    index: list[slice] = [slice(None)] * x.dim()
    flipped: list[int] = []
    for axis, start, end, step in zip(axes, starts, ends, steps, strict=True):
        n = x.shape[axis]
        start = start + n if start < 0 else start
        if end in _END_OF_AXIS:
            # Exporters write INT_MAX for "to the end"; onnxruntime reads it as numpy's
            # None in either direction, which clamping alone gets wrong for negative steps.
            end = -1 if step < 0 else n
        elif end < 0:
            end = end + n
        if step > 0:
            index[axis] = slice(_clamp(start, 0, n), _clamp(end, 0, n), step)
        else:
            # torch slices cannot step backwards: walk the flipped axis forwards instead.
            start, end = _clamp(start, 0, n - 1), _clamp(end, -1, n - 1)
            index[axis] = slice(n - 1 - start, n - 1 - end, -step)
            flipped.append(axis)
    if flipped:
        x = x.flip(flipped)
    return x[tuple(index)]


@op("Slice", 1)
def slice_1(
    x: Tensor, *, axes: Sequence[int] | None = None, ends: Sequence[int], starts: Sequence[int]
) -> Tensor:
    """Opset 1: starts/ends/axes are attributes and there are no steps."""
    return _slice(x, starts, ends, axes, None)


@op("Slice", 10)
def slice_10(
    x: Tensor,
    starts: Tensor,
    ends: Tensor,
    axes: Tensor | None = None,
    steps: Tensor | None = None,
) -> Tensor:
    return _slice(x, as_ints(starts) or [], as_ints(ends) or [], as_ints(axes), as_ints(steps))


def _non_negative(indices: Tensor, extent: int | Tensor) -> Tensor:
    indices = indices.long()
    return torch.where(indices < 0, indices + extent, indices)


@op("Gather", 1)
def gather(x: Tensor, indices: Tensor, *, axis: int = 0) -> Tensor:
    dim = normalize_axis(axis, x.dim())
    flat = _non_negative(indices, x.shape[dim]).reshape(-1)
    picked = x.index_select(dim, flat)
    # A tuple, not unpacked sizes: a scalar index into a vector yields shape ().
    return picked.reshape((*x.shape[:dim], *indices.shape, *x.shape[dim + 1 :]))


@op("GatherElements", 11)
def gather_elements(x: Tensor, indices: Tensor, *, axis: int = 0) -> Tensor:
    dim = normalize_axis(axis, x.dim())
    return torch.gather(x, dim, _non_negative(indices, x.shape[dim]))


@op("GatherND", 11)
@op("GatherND", 12)
def gather_nd(x: Tensor, indices: Tensor, *, batch_dims: int = 0) -> Tensor:
    depth = indices.shape[-1]
    batch_shape = list(x.shape[:batch_dims])
    batches = product(batch_shape)
    data = x.reshape(batches, *x.shape[batch_dims:])
    where = indices.reshape(batches, -1, depth)
    extents = torch.tensor(x.shape[batch_dims : batch_dims + depth], device=x.device)
    where = _non_negative(where, extents)
    rows = torch.arange(batches, device=x.device).unsqueeze(1).expand(-1, where.shape[1])
    coordinates = (rows, *where.unbind(-1))
    picked = data[coordinates]
    return picked.reshape(
        (*batch_shape, *indices.shape[batch_dims:-1], *x.shape[batch_dims + depth :])
    )


_SCATTER_REDUCE = {"mul": "prod", "max": "amax", "min": "amin"}


@op("ScatterND", 11)
@op("ScatterND", 16)
def scatter_nd(
    data: Tensor, indices: Tensor, updates: Tensor, *, reduction: str = "none"
) -> Tensor:
    depth = indices.shape[-1]
    lead = list(data.shape[:depth])
    extents = torch.tensor(lead, device=data.device)
    where = _non_negative(indices.reshape(-1, depth), extents)
    strides = torch.tensor([product(lead[i + 1 :]) for i in range(depth)], device=data.device)
    rows = (where * strides).sum(dim=-1)
    flat = data.reshape(product(lead), *data.shape[depth:])
    values = updates.reshape(-1, *data.shape[depth:])
    if reduction in ("none", "add"):
        scattered = flat.index_put((rows,), values, accumulate=reduction == "add")
    else:
        index = rows.reshape(-1, *([1] * (values.dim() - 1))).expand_as(values)
        scattered = flat.scatter_reduce(0, index, values, _SCATTER_REDUCE[reduction])
    return scattered.reshape(data.shape)


@op("ScatterElements", 11)
@op("ScatterElements", 16)
def scatter_elements(
    data: Tensor, indices: Tensor, updates: Tensor, *, axis: int = 0, reduction: str = "none"
) -> Tensor:
    """``reduction`` came in opset 16 (none/add/mul), max and min in 18; a reduction folds the
    existing value in too, as torch's ``include_self`` does."""
    dim = normalize_axis(axis, data.dim())
    where = _non_negative(indices, data.shape[dim])
    if reduction == "none":
        return data.scatter(dim, where, updates)
    mode = "sum" if reduction == "add" else _SCATTER_REDUCE[reduction]
    return data.scatter_reduce(dim, where, updates, mode, include_self=True)


@op("Compress", 9)
@op("Compress", 11)
def compress(x: Tensor, condition: Tensor, *, axis: int | None = None) -> Tensor:
    """numpy.compress: a condition shorter than the axis keeps only that many slices (opset 11
    allows a negative axis; without one the input is flattened first)."""
    if axis is None:
        x, dim = x.reshape(-1), 0
    else:
        dim = normalize_axis(axis, x.dim())
    keep = torch.nonzero(condition.reshape(-1).to(torch.bool)).reshape(-1)
    return x.index_select(dim, keep.to(x.device))


@op("ReverseSequence", 10)
def reverse_sequence(
    x: Tensor, sequence_lens: Tensor, *, batch_axis: int = 1, time_axis: int = 0
) -> Tensor:
    """The first ``sequence_lens[b]`` steps of batch ``b`` reversed, the rest kept."""
    steps = x.shape[time_axis]
    shape = [1] * x.dim()
    shape[time_axis] = steps
    time = torch.arange(steps, device=x.device).reshape(shape)
    shape = [1] * x.dim()
    shape[batch_axis] = -1
    lengths = sequence_lens.to(torch.int64).reshape(shape)
    source = torch.where(time < lengths, lengths - 1 - time, time)
    return torch.gather(x, time_axis, source.expand(x.shape))


@op("NonZero", 9, differentiable=False)
def non_zero(x: Tensor) -> Tensor:
    return torch.nonzero(x).T.contiguous()


@op("Trilu", 14)
def trilu(x: Tensor, k: Tensor | None = None, *, upper: int = 1) -> Tensor:
    diagonal = as_int(k) if k is not None else 0
    return torch.triu(x, diagonal) if upper else torch.tril(x, diagonal)


@op("OneHot", 9, differentiable=False)
def one_hot(indices: Tensor, depth: Tensor, values: Tensor, *, axis: int = -1) -> Tensor:
    classes = as_int(depth)
    position = normalize_axis(axis, indices.dim() + 1)
    hot_index = _non_negative(indices, classes).unsqueeze(position)
    shape = [1] * (indices.dim() + 1)
    shape[position] = classes
    grid = torch.arange(classes, device=indices.device).reshape(shape)
    # Out-of-range indices match no class and give an all-"off" row, as ONNX asks.
    return torch.where(hot_index == grid, values[1], values[0])
