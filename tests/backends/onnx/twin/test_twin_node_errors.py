"""Whatever raises while the twin prepares or computes a node is that node's error: an input
error (exit 3) naming the node's name and op type, never an internal error; running out of
memory is left to the boundary (an environment error)."""

from __future__ import annotations

from typing import Any

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper

from robustcheck.backends.onnx.twin import OnnxTwin, TwinNodeError
from robustcheck.boundary import out_of_memory
from robustcheck.exit_codes import ExitCode

FLOAT = TensorProto.FLOAT


def _x(*shape: int) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info("x", FLOAT, list(shape))


def _constant(name: str, value: np.ndarray) -> onnx.TensorProto:
    return onnx.numpy_helper.from_array(value, name=name)


# Each graph is one the twin accepts when it is built and fails on when it runs, with a
# different foreign exception: torch's broadcasting RuntimeError, its IndexError, numpy's.
FAILING = {
    "broadcast": (
        [helper.make_node("Add", ["x", "c"], ["y"], name="bad_add")],
        [_constant("c", np.ones(4, np.float32))],
        "'bad_add' (Add)",
        "RuntimeError",
    ),
    "gather-out-of-range": (
        [helper.make_node("Gather", ["x", "i"], ["y"], name="far_gather", axis=1)],
        [_constant("i", np.array([7], np.int64))],
        "'far_gather' (Gather)",
        "Error",
    ),
    "reshape-impossible": (
        [helper.make_node("Reshape", ["x", "s"], ["y"])],
        [_constant("s", np.array([5, -1], np.int64))],
        "node #0 (Reshape)",
        "RuntimeError",
    ),
}


@pytest.mark.parametrize("case", FAILING.values(), ids=FAILING.keys())
def test_an_exception_inside_a_node_names_the_node(graph_model: Any, case: tuple) -> None:
    nodes, initializers, label, kind = case
    model = graph_model(nodes, [_x(2, 3)], ["y"], initializers=initializers)
    twin = OnnxTwin(model, source="m.onnx")
    with pytest.raises(TwinNodeError) as caught:
        twin.run({"x": torch.ones(2, 3)})
    error = caught.value
    assert error.exit_code == ExitCode.INPUT_ERROR and error.node == label
    line = error.one_line()
    assert line.startswith(f"m.onnx: the gradient twin cannot compute node {label}: ")
    assert kind in line and "--attack square" in line and "\n" not in line


def test_a_node_the_twin_cannot_prepare_is_named(graph_model: Any) -> None:
    value = helper.make_tensor("v", FLOAT, [2, 3], b"\0" * 24, raw=True)
    value.raw_data = b"\0" * 8  # 2 floats where the dims declare 6
    nodes = [
        helper.make_node("Constant", [], ["c"], name="short_constant", value=value),
        helper.make_node("Add", ["x", "c"], ["y"]),
    ]
    with pytest.raises(TwinNodeError, match=r"cannot prepare node 'short_constant' \(Constant\)"):
        OnnxTwin(graph_model(nodes, [_x(2, 3)], ["y"]), source="m.onnx")


def test_running_out_of_memory_in_a_node_is_not_the_node_s_fault(graph_model: Any) -> None:
    """2⁴⁵ float32 (128 TiB): torch's allocator refuses at once; the boundary makes it exit 5."""
    nodes = [helper.make_node("ConstantOfShape", ["shape"], ["y"], name="huge")]
    model = graph_model(
        nodes, [_x(1)], ["y"], initializers=[_constant("shape", np.array([2**45], np.int64))]
    )
    with pytest.raises(Exception) as caught:
        OnnxTwin(model).run({"x": torch.ones(1)})
    assert not isinstance(caught.value, TwinNodeError) and out_of_memory(caught.value)
