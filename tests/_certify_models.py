"""Tiny ONNX graphs for the certification tests: one op (or a short chain) on a variable input
with a dynamic batch axis; weights drawn from a seeded generator."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17


class GraphMaker:
    """Collects nodes and initializers for one model; ``x`` is the variable input."""

    def __init__(self, seed: int = 0) -> None:
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._count = 0

    def const(self, value: np.ndarray | Sequence[float], dtype: type = np.float32) -> str:
        name = f"c{len(self.initializers)}"
        self.initializers.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def weight(self, *shape: int, scale: float = 0.5) -> str:
        return self.const(self.rng.normal(0, scale, shape))

    def op(self, op_type: str, *inputs: str, outputs: int = 1, **attrs: object) -> str:
        self._count += 1
        names = [f"v{self._count}_{i}" for i in range(outputs)]
        self.nodes.append(
            helper.make_node(op_type, list(inputs), names, name=f"n{self._count}", **attrs)
        )
        return names[0]

    def model(self, output: str, sample_shape: Sequence[int]) -> onnx.ModelProto:
        x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", *sample_shape])
        y = helper.make_value_info(output, helper.make_tensor_type_proto(TensorProto.FLOAT, None))
        graph = helper.make_graph(self.nodes, "g", [x], [y], self.initializers)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
        model.ir_version = 8
        return model
