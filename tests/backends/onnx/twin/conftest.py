"""Builders shared by the twin's tests: one-node and small ONNX models, an onnxruntime runner.

They are exposed as fixtures (returning functions) because the test directory is not a
package and tests import nothing from each other.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import helper

NodeModelBuilder = Callable[..., onnx.ModelProto]
OrtRunner = Callable[[onnx.ModelProto, Mapping[str, np.ndarray]], list[np.ndarray]]


def _ir_version(opset: int) -> int:
    # onnxruntime rejects IR versions newer than it knows; old opsets pair with old IRs.
    if opset <= 17:
        return 8
    if opset <= 20:
        return 9
    return 10


def build_node_model(
    op_type: str,
    inputs: Sequence[tuple[str, np.ndarray | None]],
    *,
    opset: int,
    domain: str = "",
    outputs: int = 1,
    initializers: Mapping[str, np.ndarray] | None = None,
    **attributes: Any,
) -> onnx.ModelProto:
    """A model with one node; ``inputs`` in node order, ``("", None)`` for an omitted one.

    Named inputs become graph inputs unless listed in ``initializers``.
    """
    initializers = dict(initializers or {})
    node = helper.make_node(
        op_type,
        [name for name, _ in inputs],
        [f"y{i}" for i in range(outputs)],
        domain=domain,
        **attributes,
    )
    graph_inputs = [
        helper.make_tensor_value_info(
            name, helper.np_dtype_to_tensor_dtype(value.dtype), list(value.shape)
        )
        for name, value in inputs
        if name and name not in initializers and value is not None
    ]
    graph = helper.make_graph(
        [node],
        f"one_{op_type}",
        graph_inputs,
        [helper.make_empty_tensor_value_info(f"y{i}") for i in range(outputs)],
        initializer=[onnx.numpy_helper.from_array(v, name=k) for k, v in initializers.items()],
    )
    opsets = [helper.make_opsetid("", opset if not domain else 17)]
    if domain:
        opsets.append(helper.make_opsetid(domain, opset))
    return helper.make_model(graph, opset_imports=opsets, ir_version=_ir_version(opset))


def build_graph_model(
    nodes: list[onnx.NodeProto],
    inputs: list[onnx.ValueInfoProto],
    outputs: list[str],
    *,
    opsets: dict[str, int] | None = None,
    initializers: list[onnx.TensorProto] | None = None,
) -> onnx.ModelProto:
    """A model around ``nodes``; outputs are declared without types."""
    graph = helper.make_graph(
        nodes,
        "g",
        inputs,
        [helper.make_empty_tensor_value_info(o) for o in outputs],
        initializer=initializers or [],
    )
    imports = [helper.make_opsetid(d, v) for d, v in (opsets or {"": 13}).items()]
    return helper.make_model(graph, opset_imports=imports, ir_version=8)


def run_onnxruntime(model: onnx.ModelProto, feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, dict(feeds))


@pytest.fixture(scope="session")
def node_model() -> NodeModelBuilder:
    return build_node_model


@pytest.fixture(scope="session")
def ort_run() -> OrtRunner:
    return run_onnxruntime


@pytest.fixture(scope="session")
def graph_model() -> Callable[..., onnx.ModelProto]:
    return build_graph_model
