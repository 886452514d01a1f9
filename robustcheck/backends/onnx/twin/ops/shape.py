"""Shape queries and layout changes: Shape, Reshape, Transpose, Squeeze, Concat, Split, ..."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from robustcheck.backends.onnx.twin.ops._axes import (
    as_ints,
    normalize_axes,
    normalize_axis,
    product,
)
from robustcheck.backends.onnx.twin.registry import op


def _int64(values: Sequence[int] | int, like: Tensor) -> Tensor:
    return torch.tensor(values, dtype=torch.int64, device=like.device)


@op("Shape", 1, differentiable=False)
@op("Shape", 15, differentiable=False)
def shape(x: Tensor, *, end: int | None = None, start: int = 0) -> Tensor:
    """``start``/``end`` (opset 15) clamp like Python slicing."""
    return _int64(list(x.shape)[start:end], x)


@op("Size", 1, differentiable=False)
def size(x: Tensor) -> Tensor:
    return _int64(x.numel(), x)


@op("Reshape", 5)
@op("Reshape", 14)
def reshape(x: Tensor, shape: Tensor, *, allowzero: int = 0) -> Tensor:
    dims = as_ints(shape) or []
    if not allowzero:
        # A 0 copies the input's dimension unless allowzero asks for a literal 0.
        dims = [x.shape[i] if d == 0 else d for i, d in enumerate(dims)]
    return x.reshape(dims)


@op("Flatten", 1)
def flatten(x: Tensor, *, axis: int = 1) -> Tensor:
    axis = axis + x.dim() if axis < 0 else axis
    return x.reshape(product(x.shape[:axis]), product(x.shape[axis:]))


@op("Transpose", 1)
def transpose(x: Tensor, *, perm: Sequence[int] | None = None) -> Tensor:
    return x.permute(tuple(perm) if perm is not None else tuple(reversed(range(x.dim()))))


def _squeeze(x: Tensor, axes: Sequence[int] | None) -> Tensor:
    if not axes:
        return x.squeeze()
    return x.squeeze(tuple(normalize_axes(axes, x.dim())))


@op("Squeeze", 1)
def squeeze_1(x: Tensor, *, axes: Sequence[int] | None = None) -> Tensor:
    return _squeeze(x, axes)


@op("Squeeze", 13)
def squeeze_13(x: Tensor, axes: Tensor | None = None) -> Tensor:
    return _squeeze(x, as_ints(axes))


def _unsqueeze(x: Tensor, axes: Sequence[int]) -> Tensor:
    # Axes index the output, so they are normalized against the output rank.
    for axis in sorted(normalize_axes(axes, x.dim() + len(axes))):
        x = x.unsqueeze(axis)
    return x


@op("Unsqueeze", 1)
def unsqueeze_1(x: Tensor, *, axes: Sequence[int]) -> Tensor:
    return _unsqueeze(x, axes)


@op("Unsqueeze", 13)
def unsqueeze_13(x: Tensor, axes: Tensor) -> Tensor:
    return _unsqueeze(x, as_ints(axes) or [])


@op("Concat", 4)
def concat(*inputs: Tensor, axis: int) -> Tensor:
    return torch.cat(inputs, dim=normalize_axis(axis, inputs[0].dim()))


def _split(x: Tensor, axis: int, sizes: Sequence[int] | None, parts: int) -> tuple[Tensor, ...]:
    dim = normalize_axis(axis, x.dim())
    if not sizes:
        # Equal parts; from opset 18 the last one may be smaller.
        length = x.shape[dim]
        chunk = -(-length // parts)
        sizes = [chunk] * (parts - 1) + [length - chunk * (parts - 1)]
    return tuple(torch.split(x, list(sizes), dim=dim))


@op("Split", 2)
def split_2(
    x: Tensor, *, axis: int = 0, split: Sequence[int] | None = None, output_count: int
) -> tuple[Tensor, ...]:
    """Opsets 2-12: ``split`` is an attribute."""
    return _split(x, axis, split, output_count)


@op("Split", 13)
def split_13(
    x: Tensor, split: Tensor | None = None, *, axis: int = 0, output_count: int
) -> tuple[Tensor, ...]:
    """Opset 13: ``split`` became an input."""
    return _split(x, axis, as_ints(split), output_count)


@op("Split", 18)
def split_18(
    x: Tensor,
    split: Tensor | None = None,
    *,
    axis: int = 0,
    num_outputs: int | None = None,
    output_count: int,
) -> tuple[Tensor, ...]:
    """Opset 18: ``num_outputs`` allows an uneven last part."""
    return _split(x, axis, as_ints(split), num_outputs or output_count)


@op("Expand", 8)
def expand(x: Tensor, shape: Tensor) -> Tensor:
    """Bidirectional broadcast: a 1 in ``shape`` keeps the input's dimension."""
    return x.expand(torch.broadcast_shapes(x.shape, tuple(as_ints(shape) or [])))


@op("Tile", 6)
def tile(x: Tensor, repeats: Tensor) -> Tensor:
    return x.repeat(tuple(as_ints(repeats) or []))


@op("DepthToSpace", 1)
@op("DepthToSpace", 11)
def depth_to_space(x: Tensor, *, blocksize: int, mode: str = "DCR") -> Tensor:
    n, c, h, w = x.shape
    b = blocksize
    if mode == "DCR":
        blocks = x.reshape(n, b, b, c // (b * b), h, w).permute(0, 3, 4, 1, 5, 2)
    else:
        blocks = x.reshape(n, c // (b * b), b, b, h, w).permute(0, 1, 4, 2, 5, 3)
    return blocks.reshape(n, c // (b * b), h * b, w * b)


@op("SpaceToDepth", 1)
@op("SpaceToDepth", 28)
def space_to_depth(x: Tensor, *, blocksize: int, mode: str = "DCR") -> Tensor:
    n, c, h, w = x.shape
    b = blocksize
    # DCR stacks the blocks ahead of the channels, CRD after them (opset 28 added CRD).
    order = (0, 3, 5, 1, 2, 4) if mode == "DCR" else (0, 1, 3, 5, 2, 4)
    blocks = x.reshape(n, c, h // b, b, w // b, b).permute(*order)
    return blocks.reshape(n, c * b * b, h // b, w // b)
