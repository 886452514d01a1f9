"""Static questions about a model, answered before anything runs.

``unsupported_ops`` lists every operator the twin lacks so one error can name them all (users
hate fixing one missing op per run); ``non_differentiable_nodes`` names the nodes that cut the
gradient between the float inputs and the outputs so the caller can explain a zero gradient.
"""

from __future__ import annotations

from collections.abc import Iterable

import onnx
import onnx.inliner
import onnx.shape_inference
from onnx import ModelProto, NodeProto, TensorProto

from robustcheck.backends.onnx.twin.attributes import has_subgraph
from robustcheck.backends.onnx.twin.ops import default_registry
from robustcheck.backends.onnx.twin.registry import OpRegistry, OpSpec, normalize_domain
from robustcheck.backends.onnx.twin.tensors import CARRIED_INTEGER_ONNX_TYPES, FLOATING_ONNX_TYPES
from robustcheck.errors import ModelError

OpKey = tuple[str, str, int]
"""``(domain, op_type, opset_version)``; the default domain is ``""``."""


def inline_local_functions(model: ModelProto) -> ModelProto:
    """Model-local functions are expanded so every node is a plain operator.

    Only models that declare functions pay for the copy this makes.
    """
    if not model.functions:
        return model
    return onnx.inliner.inline_local_functions(model)


def model_opsets(model: ModelProto) -> dict[str, int]:
    return {normalize_domain(entry.domain): entry.version for entry in model.opset_import}


def node_opset(node: NodeProto, opsets: dict[str, int]) -> int:
    domain = normalize_domain(node.domain)
    try:
        return opsets[domain]
    except KeyError:
        raise ModelError(
            f"node {node.name!r} ({node.op_type}) uses domain {domain!r}, "
            "which the model does not import in opset_import"
        ) from None


def resolve_node(node: NodeProto, opsets: dict[str, int], registry: OpRegistry) -> OpSpec | None:
    """The implementation for ``node``, or None when the twin cannot run it."""
    if has_subgraph(node):
        return None
    return registry.lookup(node.domain, node.op_type, node_opset(node, opsets))


def unsupported_ops(model: ModelProto, registry: OpRegistry | None = None) -> list[OpKey]:
    """Sorted, de-duplicated ``(domain, op_type, opset)`` of every node the twin cannot run
    (``registry`` defaults to :func:`default_registry`)."""
    registry = registry if registry is not None else default_registry()
    model = inline_local_functions(model)
    opsets = model_opsets(model)
    missing = {
        (normalize_domain(node.domain), node.op_type, node_opset(node, opsets))
        for node in model.graph.node
        if resolve_node(node, opsets, registry) is None
    }
    return sorted(missing)


def describe_node(node: NodeProto, index: int) -> str:
    domain = normalize_domain(node.domain)
    op = f"{domain}::{node.op_type}" if domain else node.op_type
    name = repr(node.name) if node.name else f"node #{index}"
    return f"{name} ({op})"


def _value_types(model: ModelProto) -> dict[str, int]:
    """Element types of the values shape inference can name (empty when it fails)."""
    try:
        inferred = onnx.shape_inference.infer_shapes(model, strict_mode=False)
    except Exception:
        # Types only sharpen the answer; without them it is still sound.
        return {}
    graph = inferred.graph
    values = [*graph.input, *graph.output, *graph.value_info]
    types = {v.name: v.type.tensor_type.elem_type for v in values if v.type.HasField("tensor_type")}
    types.update({init.name: init.data_type for init in graph.initializer})
    return {name: kind for name, kind in types.items() if kind}


def _carries_gradient(
    name: str, node: NodeProto, spec: OpSpec, types: dict[str, int], integer_input: bool
) -> bool:
    """Whether output ``name`` of a differentiable node can carry a gradient.

    Integer outputs do when the node rounds with a straight-through gradient (QuantizeLinear)
    or computes on integers that carry one (MatMulInteger, a Reshape of quantized values): the
    twin carries those integers as floats. A Cast's target type decides alone.
    """
    cast = node.op_type in ("Cast", "CastLike") and not normalize_domain(node.domain)
    if name in types:
        kind = types[name]
        if kind in FLOATING_ONNX_TYPES:
            return True
        carries = spec.straight_through or (integer_input and not cast)
        return carries and kind in CARRIED_INTEGER_ONNX_TYPES
    # Without inferred types, a Cast still says what it produces.
    if cast and node.op_type == "Cast":
        to = next((attr.i for attr in node.attribute if attr.name == "to"), None)
        return to is None or to in FLOATING_ONNX_TYPES
    return True


def _float_graph_inputs(model: ModelProto) -> set[str]:
    initializers = {init.name for init in model.graph.initializer}
    return {
        value.name
        for value in model.graph.input
        if value.name not in initializers
        and value.type.tensor_type.elem_type in FLOATING_ONNX_TYPES
    }


def _nodes_feeding_outputs(nodes: list[NodeProto], outputs: Iterable[str]) -> set[int]:
    needed = set(outputs)
    feeding: set[int] = set()
    for index in range(len(nodes) - 1, -1, -1):
        node = nodes[index]
        if any(name in needed for name in node.output if name):
            feeding.add(index)
            needed.update(name for name in node.input if name)
    return feeding


def non_differentiable_nodes(
    model: ModelProto,
    registry: OpRegistry | None = None,
    *,
    outputs: Iterable[str] | None = None,
    inputs: Iterable[str] | None = None,
) -> list[str]:
    """The nodes that keep the gradient of the float graph inputs from reaching an output.

    An output the gradient reaches through at least one differentiable path is fine, even
    if other paths into it are cut (a Shape feeding a Reshape, say). For every other
    output, the nodes that stop a float-derived value on its way there are reported: nodes
    the twin has no implementation for, implementations registered as non-differentiable
    (ArgMax, comparisons, Floor...), and nodes whose outputs are all non-float (a Cast to
    int64). ``outputs`` limits the question to those graph outputs (the scores a caller
    differentiates, not a label computed beside them); the default is all of them. ``inputs``
    limits the start to those float graph inputs (the one an attack perturbs). Each
    entry reads ``"<node name> (<op_type>)"``, the op type prefixed by ``<domain>::``
    outside the default domain.
    """
    registry = registry if registry is not None else default_registry()
    model = inline_local_functions(model)
    opsets = model_opsets(model)
    types = _value_types(model)
    nodes = list(model.graph.node)
    live = _float_graph_inputs(model)
    if inputs is not None:
        live &= set(inputs)
    cuts: list[int] = []
    for index, node in enumerate(nodes):
        if not any(name in live for name in node.input if name):
            continue
        spec = resolve_node(node, opsets, registry)
        integer_input = any(
            name in live and types.get(name, TensorProto.FLOAT) not in FLOATING_ONNX_TYPES
            for name in node.input
        )
        carried = [
            name
            for name in node.output
            if name
            and spec is not None
            and _carries_gradient(name, node, spec, types, integer_input)
        ]
        if spec is not None and spec.differentiable and carried:
            live.update(carried)
        else:
            cuts.append(index)
    wanted = outputs if outputs is not None else (value.name for value in model.graph.output)
    unreached = _nodes_feeding_outputs(nodes, [name for name in wanted if name not in live])
    return [describe_node(nodes[index], index) for index in cuts if index in unreached]
