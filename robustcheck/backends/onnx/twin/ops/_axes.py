"""Turning shape-like inputs and axis attributes into Python ints."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor


def as_ints(value: Tensor | Sequence[int] | None) -> list[int] | None:
    """Shape-like inputs (Reshape shape, Slice starts, axes...) as a list of ints."""
    if value is None:
        return None
    if isinstance(value, Tensor):
        return [int(v) for v in value.reshape(-1).tolist()]
    return [int(v) for v in value]


def as_int(value: Tensor | int) -> int:
    """A scalar (or one-element) shape-like input as an int."""
    if isinstance(value, Tensor):
        return int(value.reshape(-1)[0].item())
    return int(value)


def normalize_axis(axis: int, rank: int) -> int:
    if not -rank <= axis < max(rank, 1):
        raise ValueError(f"axis {axis} is out of range for rank {rank}")
    return axis + rank if axis < 0 else axis


def normalize_axes(axes: Sequence[int], rank: int) -> list[int]:
    return [normalize_axis(axis, rank) for axis in axes]


def product(values: Sequence[int]) -> int:
    result = 1
    for value in values:
        result *= value
    return result
