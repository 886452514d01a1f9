"""Matrix products: MatMul, Gemm, Einsum."""

from __future__ import annotations

import torch
from torch import Tensor

from robustcheck.backends.onnx.twin.registry import op


@op("MatMul", 1)
def matmul(a: Tensor, b: Tensor) -> Tensor:
    """numpy.matmul semantics, 1-D operands and batch broadcasting included."""
    return torch.matmul(a, b)


@op("Gemm", 7)
@op("Gemm", 11)
def gemm(
    a: Tensor,
    b: Tensor,
    c: Tensor | None = None,
    *,
    alpha: float = 1.0,
    beta: float = 1.0,
    transA: int = 0,  # ONNX attribute names, hence the camel case
    transB: int = 0,
) -> Tensor:
    y = torch.matmul(a.T if transA else a, b.T if transB else b)
    if alpha != 1.0:
        y = alpha * y
    if c is not None:
        y = y + (c if beta == 1.0 else beta * c)
    return y


@op("Einsum", 12)
def einsum(*inputs: Tensor, equation: str) -> Tensor:
    return torch.einsum(equation.replace(" ", ""), *inputs)
