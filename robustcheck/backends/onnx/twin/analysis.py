"""Static questions about a model, answered before anything runs.

``unsupported_ops`` lists every operator the twin lacks so one error can name them all (users
hate fixing one missing op per run); ``non_differentiable_nodes`` names the nodes that cut the
gradient between the float inputs and the outputs so the caller can explain a zero gradient.
Both look inside subgraphs (``If``'s branches, ``Loop``'s and ``Scan``'s body), including the
values a subgraph reads from the scopes around it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import onnx
import onnx.inliner
import onnx.shape_inference
from onnx import GraphProto, ModelProto, NodeProto, TensorProto

from robustcheck.backends.onnx.twin.attributes import subgraphs
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
    """The implementation for ``node``, or None when the twin cannot run it (the nodes of its
    subgraphs are resolved on their own, with the same opsets)."""
    return registry.lookup(node.domain, node.op_type, node_opset(node, opsets))


def unsupported_ops(model: ModelProto, registry: OpRegistry | None = None) -> list[OpKey]:
    """Sorted, de-duplicated ``(domain, op_type, opset)`` of every node the twin cannot run
    (``registry`` defaults to :func:`default_registry`)."""
    registry = registry if registry is not None else default_registry()
    model = inline_local_functions(model)
    opsets = model_opsets(model)
    missing = {
        (normalize_domain(node.domain), node.op_type, node_opset(node, opsets))
        for node in walk_nodes(model.graph)
        if resolve_node(node, opsets, registry) is None
    }
    return sorted(missing)


def walk_nodes(graph: GraphProto) -> Iterator[NodeProto]:
    """Every node of ``graph`` and, after each node, those of its subgraphs (depth first)."""
    for node in graph.node:
        yield node
        for _, subgraph in subgraphs(node):
            yield from walk_nodes(subgraph)


def node_reads(node: NodeProto) -> list[str]:
    """The values ``node`` reads: its inputs and what its subgraphs take from outer scopes."""
    reads = [name for name in node.input if name]
    for _, subgraph in subgraphs(node):
        reads.extend(outer_references(subgraph))
    return list(dict.fromkeys(reads))


def outer_references(graph: GraphProto) -> list[str]:
    """Names ``graph`` reads (its nodes, their subgraphs, its outputs) without defining them
    (as an input, initializer or node output): values of an enclosing scope."""
    defined = {v.name for v in graph.input} | {init.name for init in graph.initializer}
    defined.update(name for node in graph.node for name in node.output if name)
    reads = [name for node in graph.node for name in node_reads(node)]
    reads.extend(v.name for v in graph.output)
    return [name for name in dict.fromkeys(reads) if name not in defined]


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
    types: dict[str, int] = {}
    graphs = [inferred.graph]
    graphs.extend(sub for node in walk_nodes(inferred.graph) for _, sub in subgraphs(node))
    for graph in graphs:
        values = [*graph.input, *graph.output, *graph.value_info]
        types.update(
            {v.name: v.type.tensor_type.elem_type for v in values if v.type.HasField("tensor_type")}
        )
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
            needed.update(node_reads(node))
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
    flow = _GradientFlow(model_opsets(model), registry, _value_types(model))
    nodes = list(model.graph.node)
    live = _float_graph_inputs(model)
    if inputs is not None:
        live &= set(inputs)
    cuts = flow.propagate(nodes, live, prefix="")
    wanted = outputs if outputs is not None else (value.name for value in model.graph.output)
    unreached = _nodes_feeding_outputs(nodes, [name for name in wanted if name not in live])
    return [label for index, labels in cuts.items() if index in unreached for label in labels]


_Ports = tuple[list[tuple[str, str]], list[tuple[str, str]], list[tuple[str, str]]]


def _subgraph_ports(node: NodeProto, graph: GraphProto) -> _Ports:
    """How values cross into and out of ``graph``, a subgraph of ``node``: (node input, graph
    input) pairs, (graph output, node output) pairs, and the loop-carried (graph output, graph
    input) pairs fed back each iteration."""
    inner_in = [v.name for v in graph.input]
    inner_out = [v.name for v in graph.output]
    op = node.op_type if not normalize_domain(node.domain) else ""
    if op == "Loop":
        carried = list(zip(node.input[2:], inner_in[2:], strict=False))
        feedback = list(zip(inner_out[1:], inner_in[2:], strict=False))
        return carried, list(zip(inner_out[1:], node.output, strict=False)), feedback
    if op == "Scan":
        scan_inputs = next((a.i for a in node.attribute if a.name == "num_scan_inputs"), 0)
        states = len(inner_in) - scan_inputs
        outer = list(node.input)[len(node.input) - len(inner_in) :]
        feedback = list(zip(inner_out[:states], inner_in[:states], strict=False))
        return (
            list(zip(outer, inner_in, strict=False)),
            list(zip(inner_out, node.output, strict=False)),
            feedback,
        )
    # If (no inputs), and by default every input of an unknown holder depends on every read.
    inputs = [(name, inner) for name in node.input for inner in inner_in]
    return inputs, list(zip(inner_out, node.output, strict=False)), []


class _GradientFlow:
    """Forward propagation of "carries the float inputs' gradient" through nodes and subgraphs."""

    def __init__(self, opsets: dict[str, int], registry: OpRegistry, types: dict[str, int]):
        self._opsets = opsets
        self._registry = registry
        self._types = types

    def propagate(
        self, nodes: list[NodeProto], live: set[str], prefix: str
    ) -> dict[int, list[str]]:
        """Add to ``live`` every node output the gradient reaches; return, by node index, the
        labels of the nodes that stop it (a node with subgraphs: the inner nodes that do)."""
        cuts: dict[int, list[str]] = {}
        for index, node in enumerate(nodes):
            if not any(name in live for name in node_reads(node)):
                continue
            label = prefix + describe_node(node, index)
            spec = resolve_node(node, self._opsets, self._registry)
            inner: list[str] = []
            if spec is None or not spec.differentiable:
                carried: list[str] = []
            elif subgraphs(node):
                carried, inner = self._through_subgraphs(node, live, label)
            else:
                carried = self._carried(node, spec, live)
            if carried:
                live.update(carried)
            else:
                cuts[index] = inner or [label]
        return cuts

    def _carried(self, node: NodeProto, spec: OpSpec, live: set[str]) -> list[str]:
        integer_input = any(
            name in live and self._types.get(name, TensorProto.FLOAT) not in FLOATING_ONNX_TYPES
            for name in node.input
        )
        return [
            name
            for name in node.output
            if name and _carries_gradient(name, node, spec, self._types, integer_input)
        ]

    def _through_subgraphs(
        self, node: NodeProto, live: set[str], label: str
    ) -> tuple[list[str], list[str]]:
        carried: list[str] = []
        cuts: list[str] = []
        for attribute, graph in subgraphs(node):
            inputs, outputs, feedback = _subgraph_ports(node, graph)
            inner_live = set(live) | {inner for outer, inner in inputs if outer in live}
            while True:  # loop-carried values: iterate to a fixed point
                before = len(inner_live)
                inner_cuts = self.propagate(
                    list(graph.node), inner_live, f"{label} > {attribute} > "
                )
                inner_live.update(into for out, into in feedback if out in inner_live)
                if len(inner_live) == before:
                    break
            carried.extend(outer for inner, outer in outputs if inner in inner_live and outer)
            unreached = [inner for inner, _ in outputs if inner not in inner_live]
            feeding = _nodes_feeding_outputs(list(graph.node), unreached)
            cuts.extend(lab for i, labels in inner_cuts.items() if i in feeding for lab in labels)
        return list(dict.fromkeys(carried)), cuts
