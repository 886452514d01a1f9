"""Node attributes parsed once into plain Python values (and tensors for TENSOR attributes)."""

from __future__ import annotations

from typing import Any

from onnx import AttributeProto, NodeProto

from robustcheck.backends.onnx.twin.tensors import tensor_from_proto
from robustcheck.errors import UnsupportedModelError

_SUBGRAPH_TYPES = frozenset({AttributeProto.GRAPH, AttributeProto.GRAPHS})


def has_subgraph(node: NodeProto) -> bool:
    """If/Loop/Scan-style nodes carry graphs; the twin cannot run those."""
    return any(attr.type in _SUBGRAPH_TYPES for attr in node.attribute)


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


def parse_attributes(node: NodeProto) -> dict[str, Any]:
    return {attr.name: attribute_value(attr) for attr in node.attribute}
