"""Clip's gradient at its bounds is the same on every torch version (2.14 changed torch.clamp's)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch

from robustcheck.backends.onnx.twin import OnnxTwin


def _clip(opset: int) -> onnx.ModelProto:
    h = onnx.helper
    if opset >= 11:
        node = h.make_node("Clip", ["x", "lo", "hi"], ["y"])
        bounds = [
            onnx.numpy_helper.from_array(np.array(0.0, dtype=np.float32), "lo"),
            onnx.numpy_helper.from_array(np.array(1.0, dtype=np.float32), "hi"),
        ]
    else:
        node, bounds = h.make_node("Clip", ["x"], ["y"], min=0.0, max=1.0), []
    graph = h.make_graph(
        [node],
        "clip",
        [h.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [None])],
        [h.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [None])],
        initializer=bounds,
    )
    return h.make_model(graph, opset_imports=[h.make_opsetid("", opset)])


@pytest.mark.parametrize("opset", [6, 13])
def test_a_value_on_a_bound_keeps_its_gradient(opset):
    """A pixel at exactly 0 behind Clip(0, 1) can still move inwards: the gradient passes at the
    bounds and stops only beyond them; the values are torch.clamp's."""
    x = torch.tensor([-1.0, 0.0, 0.5, 1.0, 2.0, float("nan")], requires_grad=True)
    y = OnnxTwin(_clip(opset)).run({"x": x})["y"]
    torch.testing.assert_close(y[:5].detach(), torch.tensor([0.0, 0.0, 0.5, 1.0, 1.0]))
    assert torch.isnan(y[5])
    (gradient,) = torch.autograd.grad(y[:5].sum(), x)
    assert gradient.tolist() == [0.0, 1.0, 1.0, 1.0, 0.0, 0.0]
