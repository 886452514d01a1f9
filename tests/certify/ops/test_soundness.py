"""Every bound rule is sound on the real op: random points of random boxes (half of them box
corners), run through onnxruntime, stay inside the IBP box and on the right side of both CROWN
linear bounds."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from _certify_models import GraphMaker

from robustcheck.certify import crown, from_onnx
from robustcheck.certify.bounds import Bounds
from robustcheck.certify.ibp import interval_bounds

POINTS = 10_000
BOXES = 3
Case = Callable[[GraphMaker], tuple[str, tuple[int, ...]]]


def _gemm(g: GraphMaker):
    y = g.op("Gemm", "x", g.weight(5, 6), g.weight(5), transB=1, alpha=0.7, beta=1.3)
    return y, (6,)


def _matmul_right(g: GraphMaker):
    return g.op("MatMul", "x", g.weight(4, 3)), (2, 4)


def _matmul_left(g: GraphMaker):
    return g.op("MatMul", g.weight(5, 2), "x"), (2, 4)


def _conv(g: GraphMaker):
    y = g.op(
        "Conv",
        "x",
        g.weight(4, 1, 3, 3),
        g.weight(4),
        group=2,
        pads=[1, 0, 2, 1],
        strides=[2, 1],
        dilations=[1, 2],
    )
    return y, (2, 6, 7)


def _conv_transpose(g: GraphMaker):
    y = g.op(
        "ConvTranspose", "x", g.weight(2, 3, 3, 3), g.weight(3), strides=[2, 2], pads=[1, 1, 0, 0]
    )
    return y, (2, 4, 4)


def _arithmetic(g: GraphMaker):
    a = g.op("Add", "x", g.weight(3, 1))
    b = g.op("Sub", g.weight(4), a)
    c = g.op("Mul", b, g.weight(3, 4))
    d = g.op("Div", c, g.const(np.array([2.0, -0.5, 4.0, -3.0])))
    return g.op("Sub", d, g.weight(1)), (3, 4)


def _residual(g: GraphMaker):
    h = g.op("Relu", g.op("Gemm", "x", g.weight(6, 6), g.weight(6)))
    s = g.op("Add", "x", h)
    return g.op("Sub", s, g.op("Tanh", s)), (6,)


def _batch_norm(g: GraphMaker):
    var = g.const(np.abs(g.rng.normal(1, 0.3, 3)) + 0.1)
    y = g.op("BatchNormalization", "x", g.weight(3), g.weight(3), g.weight(3), var, epsilon=1e-3)
    return y, (3, 4, 4)


def _activation(op_type: str, **attrs: object) -> Case:
    def case(g: GraphMaker):
        pre = g.op("Gemm", "x", g.weight(5, 8, scale=1.0), g.weight(8), **{})
        return g.op(op_type, pre, **attrs), (5,)

    return case


def _max_pool(g: GraphMaker):
    pre = g.op("Conv", "x", g.weight(2, 1, 2, 2), g.weight(2))
    y = g.op("MaxPool", pre, kernel_shape=[3, 2], strides=[2, 1], pads=[1, 0, 1, 1], ceil_mode=1)
    return y, (1, 6, 5)


def _max_pool_1d(g: GraphMaker):
    return g.op("MaxPool", "x", kernel_shape=[3], strides=[2], dilations=[2]), (2, 9)


def _average_pool(g: GraphMaker):
    pre = g.op("Conv", "x", g.weight(2, 1, 2, 2))
    a = g.op("AveragePool", pre, kernel_shape=[2, 2], pads=[1, 1, 0, 0], count_include_pad=0)
    return g.op("GlobalAveragePool", g.op("Neg", a)), (1, 5, 5)


def _reshapes(g: GraphMaker):
    t = g.op("Transpose", "x", perm=[0, 2, 1, 3])
    s = g.op(
        "Slice",
        t,
        g.const([1, 0], np.int64),
        g.const([4, 5], np.int64),
        g.const([1, 3], np.int64),
        g.const([1, 2], np.int64),
    )
    p = g.op("Pad", s, g.const([0, 0, 1, 0, 0, 0, 0, 2], np.int64), g.const(-1.5))
    u = g.op("Unsqueeze", g.op("Flatten", p), g.const([1], np.int64))
    sq = g.op("Squeeze", u, g.const([1], np.int64))
    r = g.op("Reshape", sq, g.const([-1, 9, 5], np.int64))
    d = g.op("Dropout", g.op("Identity", r))
    return g.op("Gemm", g.op("Flatten", d), g.weight(45, 3)), (2, 4, 5)


def _reflect_pad(g: GraphMaker):
    pre = g.op("Conv", "x", g.weight(1, 1, 2, 2))
    return g.op("Pad", pre, g.const([0, 0, 1, 2, 0, 0, 1, 0], np.int64), mode="reflect"), (1, 4, 4)


def _concat(g: GraphMaker):
    h = g.op("Sigmoid", "x")
    return g.op("Concat", "x", h, g.op("Relu", "x"), axis=-1), (2, 3)


CASES: dict[str, Case] = {
    "gemm": _gemm,
    "matmul_right": _matmul_right,
    "matmul_left": _matmul_left,
    "conv": _conv,
    "conv_transpose": _conv_transpose,
    "arithmetic": _arithmetic,
    "residual": _residual,
    "batch_norm": _batch_norm,
    "relu": _activation("Relu"),
    "leaky_relu": _activation("LeakyRelu", alpha=0.2),
    "sigmoid": _activation("Sigmoid"),
    "tanh": _activation("Tanh"),
    "max_pool": _max_pool,
    "max_pool_1d": _max_pool_1d,
    "average_pool": _average_pool,
    "reshapes": _reshapes,
    "reflect_pad": _reflect_pad,
    "concat": _concat,
}


def _points(box: Bounds, rng: np.random.Generator) -> torch.Tensor:
    """``[boxes, POINTS // boxes, *shape]``: uniform points, then as many random corners."""
    lower, upper = box.lower.unsqueeze(1), box.upper.unsqueeze(1)
    count = POINTS // len(box.lower)
    shape = (len(box.lower), count // 2, *box.lower.shape[1:])
    uniform = torch.from_numpy(rng.uniform(size=shape))
    corner = torch.from_numpy(rng.integers(0, 2, size=shape).astype(np.float64))
    t = torch.cat([uniform, corner], dim=1)
    return lower + t * (upper - lower)


def _run(model: onnx.ModelProto, points: torch.Tensor) -> torch.Tensor:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    flat = points.reshape(-1, *points.shape[2:]).float().numpy()
    (out,) = session.run(None, {"x": flat})
    return torch.from_numpy(out).double().reshape(*points.shape[:2], -1)


@pytest.mark.parametrize("name", sorted(CASES))
def test_bounds_hold_on_random_points_and_corners(name: str):
    maker = GraphMaker(seed=sorted(CASES).index(name))
    output, shape = CASES[name](maker)
    model = maker.model(output, shape)
    graph = from_onnx(model)
    rng = np.random.default_rng(1)
    centre = torch.from_numpy(rng.normal(0, 1, (BOXES, *shape)))
    radius = torch.from_numpy(rng.uniform(0, 0.6, (BOXES, *shape)))
    box = Bounds(centre - radius, centre + radius)
    points = _points(box, rng)
    values = _run(model, points)
    torch.testing.assert_close(
        graph.forward(points[0, :256]).flatten(1), values[0, :256], atol=1e-4, rtol=1e-4
    )
    slack = 1e-4 * (1 + values.abs().amax())
    ibp = interval_bounds(graph, box)
    assert (values >= ibp.lower.flatten(1).unsqueeze(1) - slack).all()
    assert (values <= ibp.upper.flatten(1).unsqueeze(1) + slack).all()

    size = graph.nodes[graph.output].size
    eye = torch.eye(size, dtype=torch.float64)
    spec = (
        torch.cat([eye, -eye])
        .reshape(1, 2 * size, *graph.output_shape)
        .expand(BOXES, -1, *graph.output_shape)
    )
    linears, _ = crown.relaxations(graph, box, max_elements=2**24)
    coefficients, bias = crown.backward(graph, graph.output, spec, linears)
    linear = torch.einsum(
        "bsi,bpi->bps", coefficients.flatten(2), points.flatten(2)
    ) + bias.unsqueeze(1)
    assert (values >= linear[..., :size] - slack).all(), "CROWN lower line above the op"
    assert (values <= -linear[..., size:] + slack).all(), "CROWN upper line below the op"
    concrete = crown.lower_bound(graph, box, spec, max_elements=2**24)
    assert (concrete.unsqueeze(1) <= linear + slack).all()
