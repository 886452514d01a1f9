"""The memory floor read from an ONNX graph's shapes (robustcheck.backends.onnx.activations):
the per-row growth of its largest batch-sized tensor, with weights (batch-independent, even when
passed through ops) counting nothing."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from robustcheck.backends.onnx.activations import largest_row_bytes


def _model(path, *, batch_dim):
    """x [N, 64] → MatMul with a transposed [4096, 64] weight (the weight's Transpose is 1 MiB
    and batch-independent) → [N, 4096] → Relu → ReduceMean → [N, 1]."""
    weight = numpy_helper.from_array(np.ones((4096, 64), np.float32), "w")
    axes = numpy_helper.from_array(np.array([1], np.int64), "axes")
    nodes = [
        helper.make_node("Transpose", ["w"], ["wt"], perm=[1, 0]),
        helper.make_node("MatMul", ["x", "wt"], ["h"]),
        helper.make_node("Relu", ["h"], ["r"]),
        helper.make_node("ReduceMean", ["r", "axes"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch_dim, 64])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch_dim, 1])],
        initializer=[weight, axes],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    onnx.save(model, path)
    return path


def test_the_largest_batch_sized_tensor_sets_the_floor(tmp_path):
    # [1, 4096] float32 per row: 16 KiB; the 1 MiB transposed weight does not grow with the batch.
    assert largest_row_bytes(_model(tmp_path / "m.onnx", batch_dim="n")) == 4096 * 4


def test_a_fixed_batch_gives_no_floor(tmp_path):
    """A graph declared for exactly one row has no batch axis to vary: nothing grows."""
    assert largest_row_bytes(_model(tmp_path / "m.onnx", batch_dim=1)) is None


def test_an_unreadable_graph_gives_no_floor(tmp_path):
    path = tmp_path / "bad.onnx"
    path.write_bytes(b"not a protobuf at all")
    assert largest_row_bytes(path) is None
