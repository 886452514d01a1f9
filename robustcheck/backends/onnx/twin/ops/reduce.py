"""Reductions (ReduceSum, ReduceMean, ReduceMax, ...) and the running sum CumSum.

``axes`` moved from an attribute to an optional input in opset 13 (ReduceSum) or 18 (the
others), together with ``noop_with_empty_axes``; both forms share :func:`_reduce`.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from robustcheck.backends.onnx.twin.ops._axes import as_int, as_ints, normalize_axes
from robustcheck.backends.onnx.twin.registry import op


def _extreme(x: Tensor, dims: list[int], keepdim: bool, largest: bool) -> Tensor:
    work = x.to(torch.uint8) if x.dtype == torch.bool else x
    if any(x.shape[d] == 0 for d in dims):
        # Max over nothing is the identity of max: -inf (or the dtype's minimum).
        shape = [1 if d in dims else n for d, n in enumerate(x.shape)]
        if not keepdim:
            shape = [n for d, n in enumerate(shape) if d not in dims]
        info = torch.finfo(work.dtype) if work.is_floating_point() else torch.iinfo(work.dtype)
        fill = (
            (-torch.inf if largest else torch.inf)
            if work.is_floating_point()
            else (info.min if largest else info.max)
        )
        reduced = torch.full(shape, fill, dtype=work.dtype, device=x.device)
    else:
        reduced = (torch.amax if largest else torch.amin)(work, dim=dims, keepdim=keepdim)
    return reduced.to(x.dtype)


def _prod(x: Tensor, dims: list[int], keepdim: bool) -> Tensor:
    # torch.prod reduces one axis at a time.
    for d in sorted(dims, reverse=True):
        x = torch.prod(x, dim=d, keepdim=True)
    return x if keepdim else x.squeeze(tuple(dims))


def _l2(x: Tensor, dims: list[int], keepdim: bool) -> Tensor:
    if x.is_floating_point():
        # vector_norm has a zero (not NaN) gradient at the zero vector.
        return torch.linalg.vector_norm(x, 2, dim=dims, keepdim=keepdim)
    squares = (x.to(torch.float64) ** 2).sum(dim=dims, keepdim=keepdim)
    return squares.sqrt().to(x.dtype)


def _mean(x: Tensor, dims: list[int], keepdim: bool) -> Tensor:
    if x.is_floating_point():
        return x.mean(dim=dims, keepdim=keepdim)
    return x.to(torch.float64).mean(dim=dims, keepdim=keepdim).to(x.dtype)


def _apply(kind: str, x: Tensor, dims: list[int], keepdim: bool) -> Tensor:
    if kind == "sum":
        return x.sum(dim=dims, keepdim=keepdim)
    if kind == "mean":
        return _mean(x, dims, keepdim)
    if kind in ("max", "min"):
        return _extreme(x, dims, keepdim, largest=kind == "max")
    if kind == "prod":
        return _prod(x, dims, keepdim)
    if kind == "l1":
        return x.abs().sum(dim=dims, keepdim=keepdim)
    if kind == "l2":
        return _l2(x, dims, keepdim)
    if kind == "log_sum":
        return torch.log(x.sum(dim=dims, keepdim=keepdim))
    if kind == "log_sum_exp":
        return torch.logsumexp(x, dim=dims, keepdim=keepdim)
    if kind == "sum_square":
        return (x * x).sum(dim=dims, keepdim=keepdim)
    raise ValueError(f"unknown reduction {kind!r}")


def _reduce(
    kind: str, x: Tensor, axes: Sequence[int] | None, keepdims: int, noop_with_empty_axes: int = 0
) -> Tensor:
    if not axes:
        if noop_with_empty_axes:
            return x
        axes = list(range(x.dim()))
    if x.dim() == 0:
        # A scalar has nothing to reduce (and torch would read dim=[] as "all axes").
        return _apply(kind, x.reshape(1), [0], keepdim=False)
    return _apply(kind, x, normalize_axes(axes, x.dim()), bool(keepdims))


@op("ReduceSum", 1)
def reduce_sum_1(x: Tensor, *, axes: Sequence[int] | None = None, keepdims: int = 1) -> Tensor:
    return _reduce("sum", x, axes, keepdims)


@op("ReduceSum", 13)
def reduce_sum_13(
    x: Tensor, axes: Tensor | None = None, *, keepdims: int = 1, noop_with_empty_axes: int = 0
) -> Tensor:
    return _reduce("sum", x, as_ints(axes), keepdims, noop_with_empty_axes)


@op("ReduceMean", 1)
def reduce_mean_1(x: Tensor, *, axes: Sequence[int] | None = None, keepdims: int = 1) -> Tensor:
    return _reduce("mean", x, axes, keepdims)


@op("ReduceMean", 18)
def reduce_mean_18(
    x: Tensor, axes: Tensor | None = None, *, keepdims: int = 1, noop_with_empty_axes: int = 0
) -> Tensor:
    return _reduce("mean", x, as_ints(axes), keepdims, noop_with_empty_axes)


@op("ReduceMax", 1)
def reduce_max_1(x: Tensor, *, axes: Sequence[int] | None = None, keepdims: int = 1) -> Tensor:
    return _reduce("max", x, axes, keepdims)


@op("ReduceMax", 18)
def reduce_max_18(
    x: Tensor, axes: Tensor | None = None, *, keepdims: int = 1, noop_with_empty_axes: int = 0
) -> Tensor:
    return _reduce("max", x, as_ints(axes), keepdims, noop_with_empty_axes)


@op("ReduceMin", 1)
def reduce_min_1(x: Tensor, *, axes: Sequence[int] | None = None, keepdims: int = 1) -> Tensor:
    return _reduce("min", x, axes, keepdims)


@op("ReduceMin", 18)
def reduce_min_18(
    x: Tensor, axes: Tensor | None = None, *, keepdims: int = 1, noop_with_empty_axes: int = 0
) -> Tensor:
    return _reduce("min", x, as_ints(axes), keepdims, noop_with_empty_axes)


@op("ReduceProd", 1)
def reduce_prod_1(x: Tensor, *, axes: Sequence[int] | None = None, keepdims: int = 1) -> Tensor:
    return _reduce("prod", x, axes, keepdims)


@op("ReduceProd", 18)
def reduce_prod_18(
    x: Tensor, axes: Tensor | None = None, *, keepdims: int = 1, noop_with_empty_axes: int = 0
) -> Tensor:
    return _reduce("prod", x, as_ints(axes), keepdims, noop_with_empty_axes)


@op("ReduceL1", 1)
def reduce_l1_1(x: Tensor, *, axes: Sequence[int] | None = None, keepdims: int = 1) -> Tensor:
    return _reduce("l1", x, axes, keepdims)


@op("ReduceL1", 18)
def reduce_l1_18(
    x: Tensor, axes: Tensor | None = None, *, keepdims: int = 1, noop_with_empty_axes: int = 0
) -> Tensor:
    return _reduce("l1", x, as_ints(axes), keepdims, noop_with_empty_axes)


@op("ReduceL2", 1)
def reduce_l2_1(x: Tensor, *, axes: Sequence[int] | None = None, keepdims: int = 1) -> Tensor:
    return _reduce("l2", x, axes, keepdims)


@op("ReduceL2", 18)
def reduce_l2_18(
    x: Tensor, axes: Tensor | None = None, *, keepdims: int = 1, noop_with_empty_axes: int = 0
) -> Tensor:
    return _reduce("l2", x, as_ints(axes), keepdims, noop_with_empty_axes)


@op("ReduceLogSum", 1)
def reduce_log_sum_1(x: Tensor, *, axes: Sequence[int] | None = None, keepdims: int = 1) -> Tensor:
    return _reduce("log_sum", x, axes, keepdims)


@op("ReduceLogSum", 18)
def reduce_log_sum_18(
    x: Tensor, axes: Tensor | None = None, *, keepdims: int = 1, noop_with_empty_axes: int = 0
) -> Tensor:
    return _reduce("log_sum", x, as_ints(axes), keepdims, noop_with_empty_axes)


@op("ReduceLogSumExp", 1)
def reduce_log_sum_exp_1(
    x: Tensor, *, axes: Sequence[int] | None = None, keepdims: int = 1
) -> Tensor:
    return _reduce("log_sum_exp", x, axes, keepdims)


@op("ReduceLogSumExp", 18)
def reduce_log_sum_exp_18(
    x: Tensor, axes: Tensor | None = None, *, keepdims: int = 1, noop_with_empty_axes: int = 0
) -> Tensor:
    return _reduce("log_sum_exp", x, as_ints(axes), keepdims, noop_with_empty_axes)


@op("ReduceSumSquare", 1)
def reduce_sum_square_1(
    x: Tensor, *, axes: Sequence[int] | None = None, keepdims: int = 1
) -> Tensor:
    return _reduce("sum_square", x, axes, keepdims)


@op("ReduceSumSquare", 18)
def reduce_sum_square_18(
    x: Tensor, axes: Tensor | None = None, *, keepdims: int = 1, noop_with_empty_axes: int = 0
) -> Tensor:
    return _reduce("sum_square", x, as_ints(axes), keepdims, noop_with_empty_axes)


@op("CumSum", 11)
def cum_sum(x: Tensor, axis: Tensor, *, exclusive: int = 0, reverse: int = 0) -> Tensor:
    dim = normalize_axes([as_int(axis)], x.dim())[0]
    work = x.flip(dim) if reverse else x
    total = torch.cumsum(work, dim=dim, dtype=x.dtype)
    if exclusive:
        # Shift by one instead of subtracting x, so integer and float results stay exact.
        zeros = torch.zeros_like(total.narrow(dim, 0, 1))
        total = torch.cat([zeros, total.narrow(dim, 0, total.shape[dim] - 1)], dim=dim)
    return total.flip(dim) if reverse else total
