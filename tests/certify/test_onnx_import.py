"""Building the bound graph: constant folding, exporters' shape chains, dropped softmax, and
refusals that name every blocking node."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from _certify_models import GraphMaker

from robustcheck.certify import CertificationUnsupportedError, blockers, from_onnx
from robustcheck.errors import UnsupportedModelError


def test_shape_chains_and_constant_subgraphs_fold_and_softmax_is_dropped():
    g = GraphMaker()
    batch = g.op("Gather", g.op("Shape", "x"), g.const(0, np.int64), axis=0)
    target = g.op(
        "Concat", g.op("Unsqueeze", batch, g.const([0], np.int64)), g.const([-1], np.int64), axis=0
    )
    flat = g.op("Reshape", "x", target)
    weight = g.op("Identity", g.op("Transpose", g.weight(10, 12), perm=[1, 0]))
    logits = g.op("Add", g.op("MatMul", flat, weight), g.op("Mul", g.weight(10), g.const(2.0)))
    model = g.model(g.op("Softmax", logits, axis=-1), (3, 4))
    graph = from_onnx(model)
    assert [n.rule.__class__.__name__ for n in graph.nodes[1:]] == ["Affine"] * 3
    assert graph.output_shape == (10,)
    x = torch.randn(5, 3, 4, dtype=torch.float64)
    assert graph.forward(x).shape == (5, 10)


def _unsupported() -> GraphMaker:
    g = GraphMaker()
    h = g.op("Erf", g.op("Gemm", "x", g.weight(4, 4)))
    g.model_output = g.op("Mul", h, g.op("Relu", "x"))
    return g


def test_every_blocking_node_is_named_at_once():
    g = _unsupported()
    model = g.model(g.model_output, (4,))
    lines = blockers(model)
    assert len(lines) == 2
    assert lines[0].startswith("node 'n2' (Erf): ")
    assert lines[1].startswith("node 'n4' (Mul): ") and "two input-dependent" in lines[1]
    with pytest.raises(CertificationUnsupportedError) as caught:
        from_onnx(model)
    assert isinstance(caught.value, UnsupportedModelError)
    assert caught.value.blockers == lines
    assert "'n2' (Erf)" in caught.value.one_line() and "'n4' (Mul)" in caught.value.one_line()


def test_an_op_that_mixes_samples_is_refused():
    g = GraphMaker()
    model = g.model(g.op("Transpose", g.op("Gemm", "x", g.weight(4, 4)), perm=[1, 0]), (4,))
    (line,) = blockers(model)
    assert line.startswith("node 'n2' (Transpose): ") and "batch axis" in line


def test_a_reshape_across_the_batch_axis_is_refused():
    g = GraphMaker()
    model = g.model(g.op("Reshape", "x", g.const([-1], np.int64)), (4,))
    (line,) = blockers(model)
    assert "does not keep the batch axis" in line


def test_a_supported_model_has_no_blockers():
    g = GraphMaker()
    model = g.model(g.op("Gemm", g.op("Relu", g.op("Flatten", "x")), g.weight(4, 3)), (2, 2))
    assert blockers(model) == []
