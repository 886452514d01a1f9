"""ArgMax, ArgMin and TopK."""

from __future__ import annotations

import torch
from torch import Tensor

from robustcheck.backends.onnx.twin.ops._axes import as_int, normalize_axis
from robustcheck.backends.onnx.twin.registry import op


def _arg_extreme(
    x: Tensor, axis: int, keepdims: int, select_last_index: int, largest: bool
) -> Tensor:
    find = torch.argmax if largest else torch.argmin
    dim = normalize_axis(axis, x.dim())
    if select_last_index:
        # The first hit in the reversed axis is the last hit in the original one.
        return x.shape[dim] - 1 - find(x.flip(dim), dim=dim, keepdim=bool(keepdims))
    return find(x, dim=dim, keepdim=bool(keepdims))


@op("ArgMax", 1, differentiable=False)
@op("ArgMax", 12, differentiable=False)
def arg_max(x: Tensor, *, axis: int = 0, keepdims: int = 1, select_last_index: int = 0) -> Tensor:
    return _arg_extreme(x, axis, keepdims, select_last_index, largest=True)


@op("ArgMin", 1, differentiable=False)
@op("ArgMin", 12, differentiable=False)
def arg_min(x: Tensor, *, axis: int = 0, keepdims: int = 1, select_last_index: int = 0) -> Tensor:
    return _arg_extreme(x, axis, keepdims, select_last_index, largest=False)


def _top_k(x: Tensor, k: int, axis: int, largest: int) -> tuple[Tensor, Tensor]:
    dim = normalize_axis(axis, x.dim())
    # A stable sort keeps equal values in index order: the tie-break ONNX specifies,
    # which torch.topk does not promise.
    values, indices = torch.sort(x, dim=dim, descending=bool(largest), stable=True)
    return values.narrow(dim, 0, k), indices.narrow(dim, 0, k)


@op("TopK", 1)
def top_k_1(x: Tensor, *, axis: int = -1, k: int) -> tuple[Tensor, Tensor]:
    """Opset 1: ``k`` is an attribute."""
    return _top_k(x, k, axis, largest=1)


@op("TopK", 10)
def top_k_10(x: Tensor, k: Tensor, *, axis: int = -1) -> tuple[Tensor, Tensor]:
    """Opset 10: ``k`` became an input."""
    return _top_k(x, as_int(k), axis, largest=1)


@op("TopK", 11)
def top_k_11(
    x: Tensor, k: Tensor, *, axis: int = -1, largest: int = 1, sorted: int = 1
) -> tuple[Tensor, Tensor]:
    """Opset 11: adds ``largest``; ``sorted=0`` leaves the order free, so sorted is fine."""
    return _top_k(x, as_int(k), axis, largest)
