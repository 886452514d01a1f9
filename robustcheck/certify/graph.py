"""The bound-propagation graph: a DAG of per-sample nodes built from an ONNX model.

Node 0 is the model input; every other node holds a bound rule and the indices of the earlier
nodes it reads. Nodes are in topological order. The engine owns the batch axis: every value
is ``[batch, *shape]`` with ``shape`` the node's per-sample shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import torch
from torch import Tensor

from robustcheck.certify.ops.base import BoundRule


@dataclass(frozen=True)
class BoundNode:
    label: str
    """How messages name the node: ``node 'fc1' (Gemm)``."""
    rule: BoundRule | None
    """None for the input node."""
    inputs: tuple[int, ...]
    shape: tuple[int, ...]

    @property
    def size(self) -> int:
        return int(torch.Size(self.shape).numel())


@dataclass(frozen=True)
class BoundGraph:
    nodes: tuple[BoundNode, ...]
    output: int

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self.nodes[0].shape

    @property
    def output_shape(self) -> tuple[int, ...]:
        return self.nodes[self.output].shape

    @cached_property
    def relaxed_inputs(self) -> frozenset[int]:
        """The nodes whose bounds a nonlinear rule's relaxation reads (pre-activations)."""
        return frozenset(
            i
            for node in self.nodes
            if node.rule is not None and node.rule.needs_bounds
            for i in node.inputs
        )

    def ancestors(self, target: int) -> list[int]:
        """``target`` and every node it depends on, in topological order."""
        seen = {target}
        for index in range(target, -1, -1):
            if index in seen:
                seen.update(self.nodes[index].inputs)
        return sorted(seen)

    def forward(self, x: Tensor) -> Tensor:
        """The model's output (logits) on ``x`` ``[batch, *input_shape]``, through the rules."""
        values: dict[int, Tensor] = {0: x}
        for index in self.ancestors(self.output)[1:]:
            node = self.nodes[index]
            assert node.rule is not None
            values[index] = node.rule.forward(*(values[i] for i in node.inputs))
        return values[self.output]
