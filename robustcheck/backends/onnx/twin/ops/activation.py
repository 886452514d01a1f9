"""Activations, Clip, and the Softmax family."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from robustcheck.backends.onnx.twin.ops._axes import normalize_axis, product
from robustcheck.backends.onnx.twin.registry import OpRegistry

_FLT_MAX = 3.4028234663852886e38


def relu(x: Tensor) -> Tensor:
    return torch.relu(x)


def leaky_relu(x: Tensor, *, alpha: float = 0.01) -> Tensor:
    return F.leaky_relu(x, alpha)


def prelu(x: Tensor, slope: Tensor) -> Tensor:
    return torch.where(x < 0, x * slope, x)


def elu(x: Tensor, *, alpha: float = 1.0) -> Tensor:
    return F.elu(x, alpha)


def selu(
    x: Tensor, *, alpha: float = 1.67326319217681884765625, gamma: float = 1.05070102214813232421875
) -> Tensor:
    return gamma * torch.where(x > 0, x, alpha * torch.expm1(x))


def celu(x: Tensor, *, alpha: float = 1.0) -> Tensor:
    return F.celu(x, alpha)


def sigmoid(x: Tensor) -> Tensor:
    return torch.sigmoid(x)


def hard_sigmoid(x: Tensor, *, alpha: float = 0.2, beta: float = 0.5) -> Tensor:
    return torch.clamp(alpha * x + beta, 0.0, 1.0)


def hard_swish(x: Tensor) -> Tensor:
    return x * torch.clamp(x / 6.0 + 0.5, 0.0, 1.0)


def tanh(x: Tensor) -> Tensor:
    return torch.tanh(x)


def softplus(x: Tensor) -> Tensor:
    # The threshold keeps exp() from overflowing; above it softplus(x) == x in float32.
    return F.softplus(x, beta=1.0, threshold=20.0)


def softsign(x: Tensor) -> Tensor:
    return x / (1 + x.abs())


def gelu(x: Tensor, *, approximate: str = "none") -> Tensor:
    return F.gelu(x, approximate=approximate)


def erf(x: Tensor) -> Tensor:
    return torch.erf(x)


def mish(x: Tensor) -> Tensor:
    return x * torch.tanh(F.softplus(x))


def thresholded_relu(x: Tensor, *, alpha: float = 1.0) -> Tensor:
    return torch.where(x > alpha, x, torch.zeros_like(x))


def clip_6(x: Tensor, *, max: float = _FLT_MAX, min: float = -_FLT_MAX) -> Tensor:
    """Opset 6: bounds are attributes (named like the builtins, as ONNX names them)."""
    return torch.clamp(x, min, max)


def clip_11(x: Tensor, min: Tensor | None = None, max: Tensor | None = None) -> Tensor:
    """Opset 11+: bounds are optional inputs; min > max yields max, as in PyTorch."""
    if min is None and max is None:
        return x
    return torch.clamp(x, min, max)


def _flattened(x: Tensor, axis: int, fn: str) -> Tensor:
    # Before opset 13 the Softmax family coerced the input to 2-D at ``axis`` and
    # normalized over everything from ``axis`` on, not over one axis.
    axis = normalize_axis(axis, x.dim())
    rows = product(x.shape[:axis])
    matrix = x.reshape(rows, -1)
    return _along(matrix, 1, fn).reshape(x.shape)


def _along(x: Tensor, axis: int, fn: str) -> Tensor:
    if fn == "softmax":
        return torch.softmax(x, dim=axis)
    if fn == "log_softmax":
        return torch.log_softmax(x, dim=axis)
    first_max = torch.argmax(x, dim=axis, keepdim=True)
    return torch.zeros_like(x).scatter(axis, first_max, 1)


def softmax_1(x: Tensor, *, axis: int = 1) -> Tensor:
    return _flattened(x, axis, "softmax")


def softmax_13(x: Tensor, *, axis: int = -1) -> Tensor:
    return _along(x, axis, "softmax")


def log_softmax_1(x: Tensor, *, axis: int = 1) -> Tensor:
    return _flattened(x, axis, "log_softmax")


def log_softmax_13(x: Tensor, *, axis: int = -1) -> Tensor:
    return _along(x, axis, "log_softmax")


def hardmax_1(x: Tensor, *, axis: int = 1) -> Tensor:
    return _flattened(x, axis, "hardmax")


def hardmax_13(x: Tensor, *, axis: int = -1) -> Tensor:
    return _along(x, axis, "hardmax")


def register(registry: OpRegistry) -> None:
    registry.add("", "Relu", 6, relu)
    registry.add("", "LeakyRelu", 6, leaky_relu)
    registry.add("", "PRelu", 7, prelu)
    registry.add("", "Elu", 6, elu)
    registry.add("", "Selu", 6, selu)
    registry.add("", "Celu", 12, celu)
    registry.add("", "Sigmoid", 6, sigmoid)
    registry.add("", "HardSigmoid", 6, hard_sigmoid)
    registry.add("", "HardSwish", 14, hard_swish)
    registry.add("", "Tanh", 6, tanh)
    registry.add("", "Softplus", 1, softplus)
    registry.add("", "Softsign", 1, softsign)
    registry.add("", "Gelu", 20, gelu)
    registry.add("", "Erf", 9, erf)
    registry.add("", "Mish", 18, mish)
    registry.add("", "ThresholdedRelu", 10, thresholded_relu)
    registry.add("", "Clip", 6, clip_6)
    registry.add("", "Clip", 11, clip_11)
    registry.add("", "Softmax", 1, softmax_1)
    registry.add("", "Softmax", 13, softmax_13)
    registry.add("", "LogSoftmax", 1, log_softmax_1)
    registry.add("", "LogSoftmax", 13, log_softmax_13)
    registry.add("", "Hardmax", 1, hardmax_1, differentiable=False)
    registry.add("", "Hardmax", 13, hardmax_13, differentiable=False)
