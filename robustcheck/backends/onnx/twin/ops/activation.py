"""Activations, Clip, and the Softmax family."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from robustcheck.backends.onnx.twin.ops._axes import normalize_axis, product
from robustcheck.backends.onnx.twin.ops._clamp import clamp_inclusive
from robustcheck.backends.onnx.twin.registry import op

_FLT_MAX = 3.4028234663852886e38


@op("Relu", 6)
def relu(x: Tensor) -> Tensor:
    return torch.relu(x)


@op("LeakyRelu", 6)
def leaky_relu(x: Tensor, *, alpha: float = 0.01) -> Tensor:
    return F.leaky_relu(x, alpha)


@op("PRelu", 7)
def prelu(x: Tensor, slope: Tensor) -> Tensor:
    return torch.where(x < 0, x * slope, x)


@op("Elu", 6)
def elu(x: Tensor, *, alpha: float = 1.0) -> Tensor:
    return F.elu(x, alpha)


@op("Selu", 6)
def selu(
    x: Tensor, *, alpha: float = 1.67326319217681884765625, gamma: float = 1.05070102214813232421875
) -> Tensor:
    return gamma * torch.where(x > 0, x, alpha * torch.expm1(x))


@op("Celu", 12)
def celu(x: Tensor, *, alpha: float = 1.0) -> Tensor:
    return F.celu(x, alpha)


@op("Sigmoid", 6)
def sigmoid(x: Tensor) -> Tensor:
    return torch.sigmoid(x)


@op("HardSigmoid", 6)
def hard_sigmoid(x: Tensor, *, alpha: float = 0.2, beta: float = 0.5) -> Tensor:
    return torch.clamp(alpha * x + beta, 0.0, 1.0)


@op("HardSwish", 14)
def hard_swish(x: Tensor) -> Tensor:
    return x * torch.clamp(x / 6.0 + 0.5, 0.0, 1.0)


@op("Tanh", 6)
def tanh(x: Tensor) -> Tensor:
    return torch.tanh(x)


@op("Softplus", 1)
def softplus(x: Tensor) -> Tensor:
    # The threshold keeps exp() from overflowing; above it softplus(x) == x in float32.
    return F.softplus(x, beta=1.0, threshold=20.0)


@op("Softsign", 1)
def softsign(x: Tensor) -> Tensor:
    return x / (1 + x.abs())


@op("Gelu", 20)
def gelu(x: Tensor, *, approximate: str = "none") -> Tensor:
    return F.gelu(x, approximate=approximate)


@op("Erf", 9)
def erf(x: Tensor) -> Tensor:
    return torch.erf(x)


@op("Mish", 18)
def mish(x: Tensor) -> Tensor:
    return x * torch.tanh(F.softplus(x))


@op("ThresholdedRelu", 10)
def thresholded_relu(x: Tensor, *, alpha: float = 1.0) -> Tensor:
    return torch.where(x > alpha, x, torch.zeros_like(x))


@op("Shrink", 9)
def shrink(x: Tensor, *, bias: float = 0.0, lambd: float = 0.5) -> Tensor:
    """``x + bias`` below ``-lambd``, ``x - bias`` above ``lambd``, 0 between (any numeric type)."""
    shifted = torch.where(x < -lambd, x + bias, x - bias).to(x.dtype)
    return torch.where((x < -lambd) | (x > lambd), shifted, torch.zeros_like(x))


@op("Swish", 24)
def swish(x: Tensor, *, alpha: float = 1.0) -> Tensor:
    return x * torch.sigmoid(alpha * x)


@op("Clip", 6)
def clip_6(x: Tensor, *, max: float = _FLT_MAX, min: float = -_FLT_MAX) -> Tensor:
    """Opset 6: bounds are attributes (named like the builtins, as ONNX names them)."""
    return clamp_inclusive(x, min, max)


@op("Clip", 11)
def clip_11(x: Tensor, min: Tensor | None = None, max: Tensor | None = None) -> Tensor:
    """Opset 11+: bounds are optional inputs; min > max yields max, as in PyTorch."""
    if min is None and max is None:
        return x
    return clamp_inclusive(x, min, max)


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


@op("Softmax", 1)
def softmax_1(x: Tensor, *, axis: int = 1) -> Tensor:
    return _flattened(x, axis, "softmax")


@op("Softmax", 13)
def softmax_13(x: Tensor, *, axis: int = -1) -> Tensor:
    return _along(x, axis, "softmax")


@op("LogSoftmax", 1)
def log_softmax_1(x: Tensor, *, axis: int = 1) -> Tensor:
    return _flattened(x, axis, "log_softmax")


@op("LogSoftmax", 13)
def log_softmax_13(x: Tensor, *, axis: int = -1) -> Tensor:
    return _along(x, axis, "log_softmax")


@op("Hardmax", 1, differentiable=False)
def hardmax_1(x: Tensor, *, axis: int = 1) -> Tensor:
    return _flattened(x, axis, "hardmax")


@op("Hardmax", 13, differentiable=False)
def hardmax_13(x: Tensor, *, axis: int = -1) -> Tensor:
    return _along(x, axis, "hardmax")
