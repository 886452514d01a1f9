"""onnxruntime's quantized contrib operators, one node each, against onnxruntime's CPU kernels.

The integers must be equal, not close: the twin reproduces each kernel's float32 steps. Each
case runs twice, with real integer tensors (off the gradient path) and with the same integers
carried as floats that require a gradient; the gradient through the rounding is straight
through, so it must be finite and non-zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx
import pytest
import torch

from robustcheck.backends.onnx.twin import OnnxTwin

MS = "com.microsoft"
DTYPES = (np.uint8, np.int8)


def _integers(dtype: type, *shape: int, seed: int) -> np.ndarray:
    info = np.iinfo(dtype)
    return np.random.default_rng(seed).integers(info.min, info.max + 1, size=shape).astype(dtype)


def _scale(value: float) -> np.ndarray:
    return np.array(value, dtype=np.float32)


def _zero(dtype: type, fraction: float) -> np.ndarray:
    """A zero point ``fraction`` of the way through the type's range."""
    info = np.iinfo(dtype)
    return np.array(round(info.min + fraction * (info.max - info.min)), dtype=dtype)


@dataclass(frozen=True)
class Case:
    op: str
    quantized: tuple[str, ...]
    """The names of the quantized graph inputs (the rest are initializers)."""
    inputs: Any
    """``dtype -> [(name, array)]`` in node order."""
    attrs: dict[str, Any] = field(default_factory=dict)


def _binary(shape_a: tuple[int, ...], shape_b: tuple[int, ...]) -> Any:
    return lambda t: [
        ("a", _integers(t, *shape_a, seed=1)), ("as", _scale(0.05)), ("az", _zero(t, 0.4)),
        ("b", _integers(t, *shape_b, seed=2)), ("bs", _scale(0.08)), ("bz", _zero(t, 0.6)),
        ("cs", _scale(0.07)), ("cz", _zero(t, 0.5)),
    ]  # fmt: skip


def _unary(shape: tuple[int, ...], y_scale: float = 0.03, y_zero: float = 0.5) -> Any:
    return lambda t: [
        ("x", _integers(t, *shape, seed=3)), ("xs", _scale(0.04)), ("xz", _zero(t, 0.45)),
        ("ys", _scale(y_scale)), ("yz", _zero(t, y_zero)),
    ]  # fmt: skip


def _concat(t: type) -> list[tuple[str, np.ndarray]]:
    return [
        ("ys", _scale(0.06)), ("yz", _zero(t, 0.5)),
        ("a", _integers(t, 2, 3, 4, seed=4)), ("as", _scale(0.05)), ("az", _zero(t, 0.3)),
        ("b", _integers(t, 2, 2, 4, seed=5)), ("bs", _scale(0.06)), ("bz", _zero(t, 0.5)),
    ]  # fmt: skip


# fmt: off
CASES: dict[str, Case] = {
    "QLinearAdd": Case("QLinearAdd", ("a", "b"), _binary((2, 3, 5, 7), (2, 3, 5, 7))),
    "QLinearAdd-broadcast-channel": Case("QLinearAdd", ("a", "b"), _binary((2, 3, 5, 7), (3, 1, 1))),
    "QLinearAdd-broadcast-row": Case("QLinearAdd", ("a", "b"), _binary((2, 3, 5, 7), (7,))),
    "QLinearAdd-scalar-first": Case("QLinearAdd", ("a", "b"), _binary((1,), (2, 3, 5, 7))),
    "QLinearMul": Case("QLinearMul", ("a", "b"), _binary((2, 3, 5, 7), (3, 1, 1))),
    "QLinearGlobalAveragePool": Case("QLinearGlobalAveragePool", ("x",), _unary((2, 5, 6, 7))),
    "QLinearGlobalAveragePool-channels-last": Case("QLinearGlobalAveragePool", ("x",), _unary((2, 6, 7, 5)), {"channels_last": 1}),
    "QLinearAveragePool": Case("QLinearAveragePool", ("x",), _unary((2, 3, 7, 6)), {"kernel_shape": [3, 2], "pads": [1, 1, 1, 0], "strides": [2, 2]}),
    "QLinearAveragePool-count-include-pad": Case("QLinearAveragePool", ("x",), _unary((2, 3, 7, 6)), {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "count_include_pad": 1}),
    "QLinearAveragePool-ceil-channels-last": Case("QLinearAveragePool", ("x",), _unary((2, 7, 6, 3)), {"kernel_shape": [2, 2], "strides": [2, 2], "ceil_mode": 1, "channels_last": 1}),
    "QLinearConcat": Case("QLinearConcat", ("a", "b"), _concat, {"axis": 1}),
    "QLinearSigmoid": Case("QLinearSigmoid", ("x",), _unary((16, 16), y_scale=1 / 256, y_zero=0.0)),
    "QLinearLeakyRelu": Case("QLinearLeakyRelu", ("x",), _unary((16, 16)), {"alpha": 0.1}),
    "QLinearSoftmax": Case("QLinearSoftmax", ("x",), _unary((4, 10), y_scale=1 / 256, y_zero=0.0), {"opset": 13, "axis": -1}),
    "QLinearSoftmax-axis": Case("QLinearSoftmax", ("x",), _unary((3, 4, 6), y_scale=0.005, y_zero=0.0), {"opset": 13, "axis": 1}),
    "QLinearSoftmax-opset12": Case("QLinearSoftmax", ("x",), _unary((3, 4, 6), y_scale=1 / 256, y_zero=0.0), {"opset": 12, "axis": 1}),
}
# fmt: on


def _model(
    case: Case, dtype: type, node_model: Any
) -> tuple[onnx.ModelProto, dict[str, np.ndarray]]:
    inputs = case.inputs(dtype)
    attrs = dict(case.attrs)
    node_opset = attrs.pop("opset", None)  # an attribute of QLinearSoftmax, not the builder's
    initializers = {name: value for name, value in inputs if name not in case.quantized}
    model = node_model(case.op, inputs, opset=1, domain=MS, initializers=initializers, **attrs)
    if node_opset is not None:
        model.graph.node[0].attribute.append(onnx.helper.make_attribute("opset", node_opset))
    return model, {name: value for name, value in inputs if name in case.quantized}


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda t: t.__name__)
@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_integers_equal_onnxruntimes(
    case: Case, dtype: type, node_model: Any, ort_run: Any
) -> None:
    model, feeds = _model(case, dtype, node_model)
    (expected,) = ort_run(model, feeds)
    twin = OnnxTwin(model)
    with torch.no_grad():
        plain = twin.run({name: torch.from_numpy(value) for name, value in feeds.items()})["y0"]
    assert plain.dtype == torch.from_numpy(expected).dtype
    np.testing.assert_array_equal(plain.numpy(), expected)

    carried = {n: torch.from_numpy(v.astype(np.float32)).requires_grad_() for n, v in feeds.items()}
    values = twin.run(carried)["y0"]
    assert values.is_floating_point()
    np.testing.assert_array_equal(values.detach().numpy(), expected.astype(np.float32))
    weights = torch.from_numpy(np.random.default_rng(0).normal(size=values.shape))
    (values * weights).sum().backward()
    for name, tensor in carried.items():
        assert tensor.grad is not None and torch.isfinite(tensor.grad).all(), name
        assert tensor.grad.abs().max() > 0, name
