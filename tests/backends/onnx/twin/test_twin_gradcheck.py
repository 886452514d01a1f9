"""``torch.autograd.gradcheck`` through the twin, one tiny float64 model per implementation.

The table follows microsoft/onnxscript's ``ops_test_data.py``: one entry per operator
implementation with its own tolerances; a known gap is ``xfail(strict=True)``, never a skip.
``test_table_covers_every_differentiable_implementation`` keeps the table from drifting
behind the registry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx
import pytest
import torch
from onnx import GraphProto, TensorProto, helper

from robustcheck.backends.onnx.twin import OnnxTwin, default_registry
from robustcheck.backends.onnx.twin.tensors import tensor_from_numpy


@dataclass(frozen=True)
class F:
    """A float64 input the gradient is checked for, drawn uniformly from [low, high)."""

    shape: tuple[int, ...]
    low: float = -2.0
    high: float = 2.0


@dataclass(frozen=True)
class Case:
    op: str
    opset: int
    inputs: list[tuple[str, Any]]
    """Node inputs in order: an :class:`F`, a fixed numpy array, or ``("", None)``."""
    attrs: dict[str, Any] = field(default_factory=dict)
    domain: str = ""
    outputs: int = 1
    atol: float = 1e-5
    rtol: float = 1e-3
    xfail: str | None = None


def _i(*values: int) -> np.ndarray:
    return np.array(values, dtype=np.int64)


def _d(*values: float) -> np.ndarray:
    return np.array(values, dtype=np.float64)


X = ("x", F((2, 3, 4)))
POSITIVE = ("x", F((2, 3, 4), 0.5, 2.0))
IMAGE = ("x", F((1, 2, 5, 6)))
MATRIX = ("x", F((3, 4)))


_STRAIGHT_THROUGH = "straight-through rounding: identity backward, a step function forward"


def _unary(op: str, opset: int, x: tuple[str, Any] = X, **attrs: Any) -> Case:
    return Case(op, opset, [x], attrs)


def _body(
    nodes: list[tuple[str, list[str], str]], inputs: list[str], outputs: list[str]
) -> GraphProto:
    """A subgraph of ``(op_type, inputs, output)`` nodes; inputs named ``i``/``go`` are the
    Loop's iteration number and condition, the others doubles."""
    kinds = {"i": TensorProto.INT64, "go": TensorProto.BOOL}
    return helper.make_graph(
        [helper.make_node(op, ins, [out]) for op, ins, out in nodes],
        "body",
        [helper.make_tensor_value_info(n, kinds.get(n, TensorProto.DOUBLE), None) for n in inputs],
        [helper.make_empty_tensor_value_info(n) for n in outputs],
    )


_LOOP_BODY = _body(
    [
        ("Identity", ["go"], "go_out"),
        ("Tanh", ["v"], "t"),
        ("Mul", ["t", "v"], "v_out"),
        ("Sin", ["v_out"], "seen"),
    ],
    ["i", "go", "v"],
    ["go_out", "v_out", "seen"],
)
_SCAN_BODY = _body(
    [("Mul", ["s", "row"], "s_out"), ("Tanh", ["s_out"], "t")], ["s", "row"], ["s_out", "t"]
)

# fmt: off
CASES: list[Case] = [
    # control flow (If reads its inputs from the enclosing scope: test_twin_control_flow.py)
    Case("Loop", 11, [("m", _i(3)), ("", None), ("v", F((2, 3)))], {"body": _LOOP_BODY}, outputs=2),
    Case("Scan", 11, [("s", F((3,))), ("x", F((4, 3)))], {"body": _SCAN_BODY, "num_scan_inputs": 1, "scan_input_directions": [1]}, outputs=2),
    # conv and pooling
    Case("Conv", 11, [IMAGE, ("w", F((4, 1, 3, 2))), ("b", F((4,)))], {"group": 2, "pads": [1, 0, 0, 1], "strides": [2, 1]}),
    Case("ConvTranspose", 11, [IMAGE, ("w", F((2, 3, 3, 3))), ("b", F((3,)))], {"strides": [2, 2], "pads": [1, 0, 0, 1], "output_padding": [1, 0]}),
    _unary("MaxPool", 1, IMAGE, kernel_shape=[2, 2]),
    Case("MaxPool", 8, [IMAGE], {"kernel_shape": [3, 2], "pads": [1, 1, 1, 0]}, outputs=2),
    _unary("MaxPool", 12, IMAGE, kernel_shape=[3, 3], ceil_mode=1, strides=[2, 2], dilations=[1, 2]),
    _unary("AveragePool", 1, IMAGE, kernel_shape=[2, 3]),
    _unary("AveragePool", 7, IMAGE, kernel_shape=[3, 3], pads=[1, 1, 1, 1], count_include_pad=1),
    _unary("AveragePool", 11, IMAGE, kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1, pads=[0, 1, 1, 0]),
    _unary("AveragePool", 19, IMAGE, kernel_shape=[2, 2], dilations=[2, 1], auto_pad="SAME_UPPER"),
    _unary("LpPool", 11, IMAGE, kernel_shape=[2, 2], p=2),
    _unary("LpPool", 18, IMAGE, kernel_shape=[2, 2], p=3, ceil_mode=1, strides=[2, 2]),
    _unary("GlobalAveragePool", 1, IMAGE),
    _unary("GlobalMaxPool", 1, IMAGE),
    # normalization
    Case("BatchNormalization", 7, [X, ("s", F((3,))), ("b", F((3,))), ("m", F((3,))), ("v", F((3,), 0.5, 2.0))]),
    Case("BatchNormalization", 9, [IMAGE, ("s", F((2,))), ("b", F((2,))), ("m", F((2,))), ("v", F((2,), 0.5, 2.0))]),
    Case("BatchNormalization", 15, [IMAGE, ("s", F((2,))), ("b", F((2,))), ("m", F((2,))), ("v", F((2,), 0.5, 2.0))], {"epsilon": 1e-3}),
    Case("RMSNormalization", 23, [X, ("s", F((3, 4)))], {"axis": 1, "epsilon": 1e-3}),
    Case("InstanceNormalization", 6, [X, ("s", F((3,))), ("b", F((3,)))]),
    Case("LayerNormalization", 17, [X, ("s", F((4,))), ("b", F((4,)))], outputs=3),
    Case("LayerNormalization", 17, [X, ("s", F((3, 4)))], {"axis": 1}, outputs=3),
    Case("GroupNormalization", 18, [("x", F((2, 4, 3))), ("s", F((2,))), ("b", F((2,)))], {"num_groups": 2}),
    Case("GroupNormalization", 21, [("x", F((2, 4, 3))), ("s", F((4,))), ("b", F((4,)))], {"num_groups": 2}),
    _unary("LpNormalization", 1, X, axis=1, p=1),
    _unary("LpNormalization", 22, X),
    _unary("LRN", 13, IMAGE, size=2, alpha=0.01, beta=0.6, bias=1.5),
    _unary("Dropout", 7, X, ratio=0.2),
    Case("Dropout", 10, [X], outputs=2),
    Case("Dropout", 12, [X, ("r", _d(0.3))], outputs=2),
    # recurrent
    Case("LSTM", 14, [("x", F((4, 2, 3))), ("w", F((2, 8, 3))), ("r", F((2, 8, 2))), ("b", F((2, 16))), ("l", np.array([4, 2], dtype=np.int32)), ("h", F((2, 2, 2))), ("c", F((2, 2, 2))), ("p", F((2, 6)))], {"hidden_size": 2, "direction": "bidirectional"}, outputs=3),
    Case("GRU", 14, [("x", F((2, 3, 3))), ("w", F((1, 6, 3))), ("r", F((1, 6, 2))), ("b", F((1, 12))), ("", None), ("h", F((2, 1, 2)))], {"hidden_size": 2, "layout": 1, "linear_before_reset": 1}, outputs=2),
    Case("RNN", 14, [("x", F((3, 2, 3))), ("w", F((1, 2, 3))), ("r", F((1, 2, 2))), ("", None), ("l", np.array([1, 3], dtype=np.int32))], {"hidden_size": 2, "direction": "reverse", "activations": ["Softsign"]}, outputs=2),
    # activations
    _unary("Relu", 14),
    _unary("LeakyRelu", 16, alpha=0.1),
    Case("PRelu", 16, [X, ("slope", F((4,)))]),
    _unary("Elu", 6, alpha=0.7),
    _unary("Selu", 6),
    _unary("Celu", 12, alpha=1.5),
    _unary("Sigmoid", 13),
    _unary("HardSigmoid", 6, alpha=0.3, beta=0.4),
    _unary("HardSwish", 14, ("x", F((2, 3, 4), -4.0, 4.0))),
    _unary("Tanh", 13),
    _unary("Softplus", 1),
    _unary("Softsign", 1),
    _unary("Gelu", 20),
    _unary("Gelu", 20, approximate="tanh"),
    _unary("Erf", 13),
    _unary("Mish", 18),
    _unary("ThresholdedRelu", 10, alpha=0.5),
    _unary("Shrink", 9, lambd=0.7, bias=0.2),
    _unary("Swish", 24, alpha=0.8),
    _unary("Clip", 6, min=-1.0, max=0.5),
    Case("Clip", 13, [X, ("lo", _d(-1.0).reshape(())), ("hi", _d(0.7).reshape(()))]),
    _unary("Softmax", 11, X, axis=1),
    _unary("Softmax", 13, X, axis=1),
    _unary("LogSoftmax", 11, X, axis=1),
    _unary("LogSoftmax", 13, X),
    # arithmetic
    Case("Add", 14, [X, ("y", F((4,)))]),
    Case("Sub", 14, [X, ("y", F((3, 1)))]),
    Case("Mul", 14, [X, ("y", F((1, 3, 4)))]),
    Case("Div", 14, [X, ("y", F((4,), 0.5, 2.0))]),
    Case("Pow", 15, [POSITIVE, ("y", F((4,)))]),
    _unary("Neg", 13),
    _unary("Abs", 13),
    _unary("Sqrt", 13, POSITIVE),
    _unary("Reciprocal", 13, POSITIVE),
    _unary("Exp", 13),
    _unary("Log", 13, POSITIVE),
    Case("Mod", 13, [("x", F((2, 3, 4), 0.5, 2.0)), ("y", F((4,), 3.0, 4.0))], {"fmod": 1}),
    _unary("Sin", 7),
    _unary("Tan", 7, ("x", F((2, 3, 4), -1.2, 1.2))),
    _unary("Asin", 7, ("x", F((2, 3, 4), -0.9, 0.9))),
    _unary("Acos", 7, ("x", F((2, 3, 4), -0.9, 0.9))),
    _unary("Atan", 7),
    _unary("Sinh", 9),
    _unary("Cosh", 9),
    _unary("Asinh", 9),
    _unary("Acosh", 9, ("x", F((2, 3, 4), 1.2, 3.0))),
    _unary("Atanh", 9, ("x", F((2, 3, 4), -0.9, 0.9))),
    _unary("Cos", 7),
    Case("Max", 6, [X, ("y", F((2, 3, 4))), ("z", F((2, 3, 4)))]),
    Case("Max", 13, [X, ("y", F((4,)))]),
    Case("Min", 6, [X, ("y", F((2, 3, 4)))]),
    Case("Min", 13, [X, ("y", F((3, 1))), ("z", F((4,)))]),
    Case("Sum", 6, [X, ("y", F((2, 3, 4)))]),
    Case("Sum", 13, [X, ("y", F((4,))), ("z", F((3, 4)))]),
    Case("Mean", 6, [X, ("y", F((2, 3, 4)))]),
    Case("Mean", 13, [X, ("y", F((3, 1)))]),
    Case("Where", 16, [("c", np.array([True, False, True, False])), X, ("y", F((3, 4)))]),
    Case("MatMul", 13, [X, ("y", F((4, 5)))]),
    Case("Gemm", 7, [MATRIX, ("b", F((5, 4))), ("c", F((5,)))], {"transB": 1, "alpha": 0.5, "beta": 2.0}),
    Case("Gemm", 13, [("a", F((4, 3))), ("b", F((4, 5)))], {"transA": 1}),
    Case("Einsum", 12, [X, ("y", F((4, 3)))], {"equation": "bij,jk->bik"}),
    Case("CumSum", 14, [X, ("axis", _i(1))], {"exclusive": 1, "reverse": 1}),
    # reductions
    *[
        case
        for op in ("ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2", "ReduceLogSumExp", "ReduceSumSquare")
        for case in (_unary(op, 13, X, axes=[1], keepdims=0), Case(op, 18, [X, ("axes", _i(0, -1))]))
    ],
    _unary("ReduceSum", 11, X, axes=[2]),
    Case("ReduceSum", 13, [X, ("axes", _i(1))], {"keepdims": 0}),
    _unary("ReduceLogSum", 13, POSITIVE, axes=[1]),
    Case("ReduceLogSum", 18, [POSITIVE, ("axes", _i(-1))]),
    Case("TopK", 1, [X], {"k": 2}, outputs=2),
    Case("TopK", 10, [X, ("k", _i(2))], {"axis": 1}, outputs=2),
    Case("TopK", 11, [X, ("k", _i(3))], {"largest": 0}, outputs=2),
    # layout
    Case("Reshape", 13, [X, ("shape", _i(4, 0, -1))]),
    Case("Reshape", 14, [X, ("shape", _i(6, 4))], {"allowzero": 1}),
    _unary("Flatten", 13, X, axis=2),
    _unary("Transpose", 13, X, perm=[2, 0, 1]),
    _unary("Squeeze", 11, ("x", F((2, 1, 3))), axes=[1]),
    Case("Squeeze", 13, [("x", F((2, 1, 3))), ("axes", _i(-2))]),
    _unary("Unsqueeze", 11, X, axes=[0, -1]),
    Case("Unsqueeze", 13, [X, ("axes", _i(1))]),
    Case("Concat", 13, [X, ("y", F((2, 1, 4)))], {"axis": 1}),
    Case("Split", 11, [X], {"axis": 2, "split": [1, 3]}, outputs=2),
    Case("Split", 13, [X, ("split", _i(2, 1))], {"axis": 1}, outputs=2),
    Case("Split", 18, [X], {"axis": 1, "num_outputs": 2}, outputs=2),
    Case("Expand", 13, [("x", F((3, 1))), ("shape", _i(2, 1, 4))]),
    Case("Tile", 13, [X, ("repeats", _i(1, 2, 1))]),
    _unary("DepthToSpace", 1, ("x", F((1, 8, 2, 3))), blocksize=2),
    _unary("DepthToSpace", 13, ("x", F((1, 8, 2, 3))), blocksize=2, mode="CRD"),
    _unary("SpaceToDepth", 13, ("x", F((1, 2, 4, 6))), blocksize=2),
    _unary("SpaceToDepth", 28, ("x", F((1, 2, 4, 6))), blocksize=2, mode="CRD"),
    # indexing
    _unary("Slice", 1, X, starts=[1, 0], ends=[3, -1], axes=[2, 1]),
    Case("Slice", 13, [X, ("s", _i(3, 0)), ("e", _i(0, 2)), ("a", _i(2, 0)), ("st", _i(-2, 1))]),
    Case("Gather", 13, [X, ("i", _i(2, -1, 0))], {"axis": 1}),
    Case("GatherElements", 13, [MATRIX, ("i", np.array([[0, 3], [1, -1], [2, 2]], dtype=np.int64))], {"axis": 1}),
    Case("GatherND", 11, [X, ("i", np.array([[0, 1], [1, 2]], dtype=np.int64))]),
    Case("GatherND", 13, [X, ("i", np.array([[1], [0]], dtype=np.int64))], {"batch_dims": 1}),
    Case("ScatterND", 11, [MATRIX, ("i", np.array([[2], [0]], dtype=np.int64)), ("u", F((2, 4)))]),
    Case("ScatterND", 18, [MATRIX, ("i", np.array([[1, 1], [2, 3]], dtype=np.int64)), ("u", F((2,)))], {"reduction": "mul"}),
    Case("Trilu", 14, [X, ("k", _i(1))], {"upper": 0}),
    Case("Pad", 2, [X], {"pads": [0, 1, 1, 0, 0, 2], "mode": "reflect"}),
    Case("Pad", 13, [X, ("p", _i(0, 1, -1, 1, 0, 2)), ("v", _d(0.5).reshape(()))]),
    Case("Pad", 18, [X, ("p", _i(2, 1)), ("", None), ("a", _i(-1))], {"mode": "edge"}),
    Case("Pad", 19, [X, ("p", _i(1, 3, 2, 1)), ("", None), ("a", _i(1, 2))], {"mode": "wrap"}),
    Case("ScatterElements", 11, [MATRIX, ("i", np.array([[2, 0], [1, 3], [-1, 1]], dtype=np.int64)), ("u", F((3, 2)))], {"axis": 1}),
    Case("ScatterElements", 18, [MATRIX, ("i", np.array([[2, 0, 1, 1]], dtype=np.int64)), ("u", F((1, 4)))], {"reduction": "max"}),
    Case("Compress", 11, [X, ("c", np.array([True, False, True]))], {"axis": -2}),
    Case("ReverseSequence", 10, [("x", F((4, 3, 2))), ("l", _i(4, 1, 2))]),
    Case("GridSample", 16, [IMAGE, ("g", F((1, 3, 4, 2), -1.2, 1.2))], {"mode": "bicubic", "padding_mode": "reflection"}),
    Case("GridSample", 20, [IMAGE, ("g", F((1, 3, 4, 2), -1.2, 1.2))], {"mode": "linear", "align_corners": 1}),
    # types
    _unary("Identity", 16),
    _unary("Cast", 13, X, to=11),
    _unary("Cast", 19, X, to=11, saturate=0),
    _unary("Cast", 25, X, to=11),
    Case("CastLike", 15, [X, ("t", _d(1.0))]),
    Case("CastLike", 21, [X, ("t", _d(1.0))]),
    Case("CastLike", 25, [X, ("t", _d(1.0))]),
    # resampling
    Case("Resize", 10, [IMAGE, ("s", _d(1, 1, 2, 1.5))], {"mode": "linear"}),
    Case("Resize", 11, [IMAGE, ("r", _d()), ("s", _d(1, 1, 0.6, 1.7))], {"mode": "cubic", "coordinate_transformation_mode": "align_corners"}),
    Case("Resize", 13, [IMAGE, ("", None), ("", None), ("z", _i(1, 2, 3, 8))], {"mode": "nearest", "nearest_mode": "ceil"}),
    Case("Resize", 18, [IMAGE, ("", None), ("s", _d(0.5, 0.5))], {"mode": "linear", "axes": [2, 3], "antialias": 1}),
    Case("Resize", 19, [IMAGE, ("r", _d(0.1, 0.2, 0.9, 0.8)), ("", None), ("z", _i(4, 4))], {"mode": "linear", "axes": [2, 3], "coordinate_transformation_mode": "tf_crop_and_resize"}),
    _unary("Upsample", 7, IMAGE, scales=[1.0, 1.0, 2.0, 2.0], mode="linear"),
    Case("Upsample", 9, [IMAGE, ("s", _d(1, 1, 2, 3))]),
    # com.microsoft contrib operators
    Case("Gelu", 1, [X], domain="com.microsoft"),
    Case("BiasGelu", 1, [X, ("b", F((4,)))], domain="com.microsoft"),
    Case("FastGelu", 1, [X, ("b", F((4,)))], domain="com.microsoft"),
    Case("QuickGelu", 1, [X], {"alpha": 1.5}, domain="com.microsoft"),
    Case("BiasAdd", 1, [X, ("b", F((4,))), ("s", F((2, 3, 4)))], domain="com.microsoft"),
    Case("FusedMatMul", 1, [("x", F((3, 2, 4))), ("y", F((2, 5, 4)))], {"transB": 1, "transBatchA": 1, "alpha": 0.5}, domain="com.microsoft"),
    Case("SkipLayerNormalization", 1, [X, ("s", F((2, 3, 4))), ("g", F((4,))), ("be", F((4,))), ("bi", F((4,)))], {"epsilon": 1e-5}, domain="com.microsoft", outputs=4),
    Case("SkipSimplifiedLayerNormalization", 1, [X, ("s", F((2, 3, 4))), ("g", F((4,))), ("bi", F((4,)))], {"epsilon": 1e-5}, domain="com.microsoft", outputs=4),
    Case("Attention", 1, [X, ("w", F((4, 12))), ("b", F((12,))), ("m", np.array([[1, 1, 0], [1, 0, 1]], dtype=np.int32))], {"num_heads": 2}, domain="com.microsoft"),
    Case("MultiHeadAttention", 1, [X, ("k", F((2, 3, 4))), ("v", F((2, 3, 4))), ("b", F((12,))), ("m", np.array([[1, 1, 0], [1, 0, 1]], dtype=np.int32))], {"num_heads": 2}, domain="com.microsoft"),
    Case("EmbedLayerNormalization", 1, [("ids", np.array([[1, 2, 0], [3, 0, 2]], dtype=np.int32)), ("seg", np.array([[0, 0, 1], [0, 1, 1]], dtype=np.int32)), ("w", F((4, 4))), ("p", F((3, 4))), ("s", F((2, 4))), ("g", F((4,))), ("b", F((4,))), ("m", np.array([[1, 1, 0], [1, 0, 1]], dtype=np.int32))], {"epsilon": 1e-5}, domain="com.microsoft", outputs=3),
    Case("SimplifiedLayerNormalization", 17, [X, ("g", F((4,)))], outputs=2),
    # quantization: integer operands arrive as carried integers (floats holding integers here,
    # any float for the check); rounding passes the gradient straight through (BPDA), which a
    # finite difference cannot see, so those cases fail by design
    Case("DequantizeLinear", 10, [X, ("s", _d(0.5).reshape(())), ("z", np.array(3, dtype=np.uint8))]),
    Case("DequantizeLinear", 13, [X, ("s", _d(0.5, 0.25, 2.0)), ("z", np.array([1, -2, 3], dtype=np.int8))], {"axis": 1}),
    Case("MatMulInteger", 10, [MATRIX, ("b", F((4, 2))), ("az", np.array(2, dtype=np.uint8)), ("bz", np.array([1, -1], dtype=np.int8))]),
    Case("ConvInteger", 10, [IMAGE, ("w", F((3, 2, 3, 3))), ("xz", np.array(1, dtype=np.uint8))], {"pads": [1, 1, 1, 1]}),
    Case("QuantizeLinear", 10, [X, ("s", _d(0.1).reshape(())), ("z", np.array(128, dtype=np.uint8))], xfail=_STRAIGHT_THROUGH),
    Case("DynamicQuantizeLinear", 11, [MATRIX], outputs=3, xfail=_STRAIGHT_THROUGH),
    Case("QLinearMatMul", 10, [MATRIX, ("as", _d(0.1).reshape(())), ("az", np.array(0, dtype=np.uint8)), ("b", F((4, 2))), ("bs", _d(0.2).reshape(())), ("bz", np.array(0, dtype=np.int8)), ("ys", _d(0.05).reshape(())), ("yz", np.array(128, dtype=np.uint8))], xfail=_STRAIGHT_THROUGH),
    Case("QLinearConv", 10, [IMAGE, ("xs", _d(0.1).reshape(())), ("xz", np.array(0, dtype=np.uint8)), ("w", F((3, 2, 3, 3))), ("ws", _d(0.2).reshape(())), ("wz", np.array(0, dtype=np.int8)), ("ys", _d(0.05).reshape(())), ("yz", np.array(128, dtype=np.uint8))], xfail=_STRAIGHT_THROUGH),
    Case("QGemm", 1, [MATRIX, ("as", _d(0.1).reshape(())), ("az", np.array(0, dtype=np.uint8)), ("b", F((4, 2))), ("bs", _d(0.2).reshape(())), ("bz", np.array(0, dtype=np.int8))], domain="com.microsoft"),
    Case("QLinearAdd", 1, [X, ("as", _d(0.1).reshape(())), ("az", np.array(0, dtype=np.int8)), ("b", F((2, 3, 4))), ("bs", _d(0.2).reshape(())), ("bz", np.array(0, dtype=np.int8)), ("cs", _d(0.15).reshape(())), ("cz", np.array(0, dtype=np.int8))], domain="com.microsoft", xfail=_STRAIGHT_THROUGH),
    Case("QLinearMul", 1, [X, ("as", _d(0.1).reshape(())), ("az", np.array(0, dtype=np.int8)), ("b", F((2, 3, 4))), ("bs", _d(0.2).reshape(())), ("bz", np.array(0, dtype=np.int8)), ("cs", _d(0.15).reshape(())), ("cz", np.array(0, dtype=np.int8))], domain="com.microsoft", xfail=_STRAIGHT_THROUGH),
    Case("QLinearGlobalAveragePool", 1, [IMAGE, ("xs", _d(0.1).reshape(())), ("xz", np.array(0, dtype=np.int8)), ("ys", _d(0.05).reshape(())), ("yz", np.array(0, dtype=np.int8))], domain="com.microsoft", xfail=_STRAIGHT_THROUGH),
    Case("QLinearAveragePool", 1, [IMAGE, ("xs", _d(0.1).reshape(())), ("xz", np.array(0, dtype=np.int8)), ("ys", _d(0.05).reshape(())), ("yz", np.array(0, dtype=np.int8))], {"kernel_shape": [2, 2]}, domain="com.microsoft", xfail=_STRAIGHT_THROUGH),
    Case("QLinearConcat", 1, [("ys", _d(0.05).reshape(())), ("yz", np.array(0, dtype=np.int8)), X, ("xs", _d(0.1).reshape(())), ("xz", np.array(0, dtype=np.int8)), ("w", F((2, 1, 4))), ("ws", _d(0.2).reshape(())), ("wz", np.array(0, dtype=np.int8))], {"axis": 1}, domain="com.microsoft", xfail=_STRAIGHT_THROUGH),
    Case("QLinearSigmoid", 1, [X, ("xs", _d(0.1).reshape(())), ("xz", np.array(0, dtype=np.int8)), ("ys", _d(1 / 256).reshape(())), ("yz", np.array(0, dtype=np.uint8))], domain="com.microsoft", xfail=_STRAIGHT_THROUGH),
    Case("QLinearLeakyRelu", 1, [X, ("xs", _d(0.1).reshape(())), ("xz", np.array(0, dtype=np.int8)), ("ys", _d(0.05).reshape(())), ("yz", np.array(0, dtype=np.int8))], {"alpha": 0.1}, domain="com.microsoft", xfail=_STRAIGHT_THROUGH),
    Case("QLinearSoftmax", 1, [X, ("xs", _d(0.1).reshape(())), ("xz", np.array(0, dtype=np.int8)), ("ys", _d(1 / 256).reshape(())), ("yz", np.array(0, dtype=np.uint8))], {"opset": 13}, domain="com.microsoft", xfail=_STRAIGHT_THROUGH),
    # ai.onnx.ml
    Case("LinearClassifier", 1, [MATRIX], {"coefficients": np.linspace(-1, 1, 12).tolist(), "intercepts": [0.1, 0.2, 0.3], "classlabels_ints": [0, 1, 2], "post_transform": "SOFTMAX"}, domain="ai.onnx.ml", outputs=2),
    Case("ArrayFeatureExtractor", 1, [X, ("i", _i(3, 0, 3))], domain="ai.onnx.ml"),
    Case("LinearRegressor", 1, [MATRIX], {"coefficients": np.linspace(-1, 1, 8).tolist(), "intercepts": [0.5, 0.0], "targets": 2}, domain="ai.onnx.ml"),
    Case("Normalizer", 1, [MATRIX], {"norm": "L2"}, domain="ai.onnx.ml"),
    Case("Scaler", 1, [MATRIX], {"offset": [0.5], "scale": [2.0, 1.0, 0.5, -1.0]}, domain="ai.onnx.ml"),
    Case("ZipMap", 1, [MATRIX], {"classlabels_int64s": [0, 1, 2, 3]}, domain="ai.onnx.ml"),
]
# fmt: on


def _case_id(case: Case) -> str:
    attrs = "-".join(f"{k}={v}" for k, v in sorted(case.attrs.items()) if not isinstance(v, list))
    return f"{case.op}-opset{case.opset}" + (f"-{attrs}" if attrs else "")


def _marks(case: Case) -> list[pytest.MarkDecorator]:
    return [pytest.mark.xfail(strict=True, reason=case.xfail)] if case.xfail else []


def _float_inputs(case: Case) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(1234)
    values = {}
    for name, value in case.inputs:
        if isinstance(value, F):
            sample = torch.rand(value.shape, generator=generator, dtype=torch.float64)
            values[name] = (value.low + (value.high - value.low) * sample).requires_grad_()
    return values


@pytest.mark.parametrize("case", [pytest.param(c, id=_case_id(c), marks=_marks(c)) for c in CASES])
def test_gradcheck(case: Case, node_model: Any) -> None:
    examples = {
        name: np.zeros(value.shape) if isinstance(value, F) else value
        for name, value in case.inputs
    }
    attrs = dict(case.attrs)
    node_opset = attrs.pop("opset", None)  # QLinearSoftmax's attribute, not the model's opset
    model = node_model(
        case.op,
        list(examples.items()),
        opset=case.opset,
        domain=case.domain,
        outputs=case.outputs,
        **attrs,
    )
    if node_opset is not None:
        model.graph.node[0].attribute.append(onnx.helper.make_attribute("opset", node_opset))
    twin = OnnxTwin(model)
    floats = _float_inputs(case)
    fixed = {
        name: tensor_from_numpy(value)
        for name, value in examples.items()
        if name and name not in floats and value is not None
    }

    def differentiable_outputs(*values: torch.Tensor) -> tuple[torch.Tensor, ...]:
        outputs = twin.run({**fixed, **dict(zip(floats, values, strict=True))})
        return tuple(out for out in outputs.values() if out.is_floating_point())

    assert differentiable_outputs(*floats.values()), "no floating output to check"
    assert torch.autograd.gradcheck(
        differentiable_outputs, tuple(floats.values()), atol=case.atol, rtol=case.rtol
    )


GRADCHECKED_ELSEWHERE = {
    ("", "If"): "test_twin_control_flow.py: its branches read the float inputs from outer scope",
}


def test_table_covers_every_differentiable_implementation() -> None:
    """Every differentiable implementation (a function registered for an operator) has a
    case whose opset resolves to it."""
    registry = default_registry()
    wanted = {
        (s.domain, s.op_type, s.fn)
        for s in registry
        if s.differentiable and (s.domain, s.op_type) not in GRADCHECKED_ELSEWHERE
    }
    covered = set()
    for case in CASES:
        spec = registry.lookup(case.domain, case.op, case.opset)
        assert spec is not None, f"{case.op} opset {case.opset} resolves to nothing"
        covered.add((spec.domain, spec.op_type, spec.fn))
    missing = sorted(f"{domain}::{op} ({fn.__name__})" for domain, op, fn in wanted - covered)
    assert not missing, missing
    non_differentiable = sorted(
        {f"{s.op_type}" for s in registry if not s.differentiable} & {c.op for c in CASES}
    )
    assert not non_differentiable, f"cases for non-differentiable ops: {non_differentiable}"
