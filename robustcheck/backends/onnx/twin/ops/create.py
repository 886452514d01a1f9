"""Tensor creation and type changes: Constant, ConstantOfShape, EyeLike, Range, Cast,
CastLike, Identity."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from robustcheck.backends.onnx.twin.ops._axes import as_ints
from robustcheck.backends.onnx.twin.registry import op
from robustcheck.backends.onnx.twin.tensors import torch_dtype
from robustcheck.errors import ModelError

_LOW_PRECISION = (torch.float16, torch.bfloat16)


@op("Constant", 1, differentiable=False)
@op("Constant", 11, differentiable=False)
@op("Constant", 12, differentiable=False)
def constant(
    *,
    value: Tensor | None = None,
    value_float: float | None = None,
    value_floats: Sequence[float] | None = None,
    value_int: int | None = None,
    value_ints: Sequence[int] | None = None,
) -> Tensor:
    """Folded once when the twin is built. String and sparse constants are refused."""
    if value is not None:
        return value
    if value_float is not None:
        return torch.tensor(value_float, dtype=torch.float32)
    if value_floats is not None:
        return torch.tensor(list(value_floats), dtype=torch.float32)
    if value_int is not None:
        return torch.tensor(value_int, dtype=torch.int64)
    if value_ints is not None:
        return torch.tensor(list(value_ints), dtype=torch.int64)
    raise ModelError("a Constant node sets none of value, value_float(s), value_int(s)")


@op("ConstantOfShape", 9, differentiable=False)
def constant_of_shape(shape: Tensor, *, value: Tensor | None = None) -> Tensor:
    dims = as_ints(shape) or []
    if value is None:
        return torch.zeros(dims, dtype=torch.float32, device=shape.device)
    fill = value.reshape(()).to(shape.device)
    return fill.expand(dims).clone()


@op("EyeLike", 9, differentiable=False)
def eye_like(x: Tensor, *, dtype: int | None = None, k: int = 0) -> Tensor:
    """Ones on the ``k``-th diagonal of a 2-D tensor shaped like ``x``, typed ``dtype`` or as ``x``."""
    rows, columns = x.shape
    ones = torch.ones((rows, columns), dtype=torch.float64, device=x.device)
    eye = torch.triu(ones, k) - torch.triu(ones, k + 1)
    return eye.to(torch_dtype(dtype) if dtype is not None else x.dtype)


@op("Range", 11, differentiable=False)
@op("Range", 27, differentiable=False)
def range_(start: Tensor, limit: Tensor, delta: Tensor, *, stash_type: int = 1) -> Tensor:
    """Floats are computed in float64 (float32 for float16/bfloat16 under ``stash_type=1``,
    opset 27), then cast, as the ONNX reference does."""
    dtype = start.dtype
    if not dtype.is_floating_point:
        compute = torch.int64
    elif dtype in _LOW_PRECISION and stash_type == 1:
        compute = torch.float32
    else:
        compute = torch.float64
    values = torch.arange(
        start.item(), limit.item(), delta.item(), dtype=compute, device=start.device
    )
    return values.to(dtype)


@op("Cast", 6)
@op("Cast", 19)
@op("Cast", 24)
def cast(x: Tensor, *, to: int, saturate: int = 1, round_mode: str = "up") -> Tensor:
    """``saturate`` and ``round_mode`` only concern float8/float4 targets, which are refused."""
    return x.to(torch_dtype(to))


@op("CastLike", 15)
@op("CastLike", 19)
@op("CastLike", 24)
def cast_like(x: Tensor, target: Tensor, *, saturate: int = 1, round_mode: str = "up") -> Tensor:
    return x.to(target.dtype)


@op("Identity", 1)
def identity(x: Tensor) -> Tensor:
    return x
