"""Node attributes parsed once into plain Python values (and tensors for TENSOR attributes)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from onnx import AttributeProto, GraphProto, NodeProto

from robustcheck.backends.onnx.twin.tensors import tensor_from_proto
from robustcheck.errors import UnsupportedModelError

_SUBGRAPH_TYPES = frozenset({AttributeProto.GRAPH, AttributeProto.GRAPHS})


SubgraphCompiler = Callable[[str, GraphProto], Any]
"""Turns a graph attribute (its name and graph) into what the op receives for it."""


def has_subgraph(node: NodeProto) -> bool:
    """If/Loop/Scan-style nodes carry graphs (run by the twin's executor, not by an op alone)."""
    return any(attr.type in _SUBGRAPH_TYPES for attr in node.attribute)


def subgraphs(node: NodeProto) -> list[tuple[str, GraphProto]]:
    """The ``(attribute name, graph)`` pairs ``node`` holds, in attribute order."""
    found: list[tuple[str, GraphProto]] = []
    for attr in node.attribute:
        if attr.type == AttributeProto.GRAPH:
            found.append((attr.name, attr.g))
        elif attr.type == AttributeProto.GRAPHS:
            found.extend((attr.name, graph) for graph in attr.graphs)
    return found


def attribute_value(attr: AttributeProto) -> Any:
    """The Python value of one attribute: float, int, str, tensor or a list of those."""
    kind = attr.type
    if kind == AttributeProto.FLOAT:
        return float(attr.f)
    if kind == AttributeProto.INT:
        return int(attr.i)
    if kind == AttributeProto.STRING:
        return attr.s.decode("utf-8")
    if kind == AttributeProto.TENSOR:
        return tensor_from_proto(attr.t)
    if kind == AttributeProto.FLOATS:
        return [float(v) for v in attr.floats]
    if kind == AttributeProto.INTS:
        return [int(v) for v in attr.ints]
    if kind == AttributeProto.STRINGS:
        return [s.decode("utf-8") for s in attr.strings]
    if kind == AttributeProto.TENSORS:
        return [tensor_from_proto(t) for t in attr.tensors]
    kind_name = AttributeProto.AttributeType.Name(kind)
    raise UnsupportedModelError(
        f"attribute {attr.name!r} has type {kind_name}, which the gradient twin does not support"
    )


def parse_attributes(
    node: NodeProto, compile_graph: SubgraphCompiler | None = None
) -> dict[str, Any]:
    """Every attribute's value; a graph attribute is handed to ``compile_graph`` (without one,
    a node with a subgraph is refused)."""
    parsed: dict[str, Any] = {}
    for attr in node.attribute:
        if compile_graph is not None and attr.type == AttributeProto.GRAPH:
            parsed[attr.name] = compile_graph(attr.name, attr.g)
        elif compile_graph is not None and attr.type == AttributeProto.GRAPHS:
            parsed[attr.name] = [compile_graph(attr.name, graph) for graph in attr.graphs]
        else:
            parsed[attr.name] = attribute_value(attr)
    return parsed
