"""Build a :class:`BoundGraph` from an ONNX model.

The model's first graph input is the variable. Initializers, ``Constant`` nodes and every node
computed only from constants are folded once with robustcheck's ONNX interpreter (the gradient
twin's op table), and so is ``Shape``/``Size`` of a variable tensor, resolved at the model's
nominal batch size from the known per-sample input shape; that folds the
``Shape → Gather → Concat → Reshape`` chains exporters emit. Each remaining node gets a bound
rule from the :class:`RuleRegistry`. A trailing Softmax/LogSoftmax is dropped: margins are
taken on logits, and the argmax is the same.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import partial
from typing import Any

import torch
from onnx import ModelProto, NodeProto, ValueInfoProto
from torch import Tensor

from robustcheck.backends.onnx.twin.analysis import (
    inline_local_functions,
    model_opsets,
    resolve_node,
)
from robustcheck.backends.onnx.twin.attributes import has_subgraph, parse_attributes
from robustcheck.backends.onnx.twin.ops import default_registry
from robustcheck.backends.onnx.twin.registry import OUTPUT_COUNT_PARAM, OpRegistry
from robustcheck.backends.onnx.twin.tensors import tensor_from_proto
from robustcheck.certify.errors import CertificationUnsupportedError
from robustcheck.certify.graph import BoundGraph, BoundNode
from robustcheck.certify.ops import RuleRegistry, default_rules
from robustcheck.certify.ops.base import BoundRule, NodeContext, RuleRefused
from robustcheck.errors import RobustcheckError

logger = logging.getLogger(__name__)

_DROPPED_AT_OUTPUT = frozenset({"Softmax", "LogSoftmax"})
_SHAPE_OPS = frozenset({"Shape", "Size"})
_ONE_VARIABLE = frozenset({"Mul", "Div", "MatMul", "Gemm", "Conv", "ConvTranspose"})
"""Ops linear only while at most one input depends on the model input: refused even behind an
earlier blocker, so one error names both."""


class _Blocked:
    """The value of a node that could not be built (its own blocker is already listed)."""


_BLOCKED = _Blocked()
_Value = Tensor | int | _Blocked
"""A folded constant, the index of a variable node, or blocked."""


def from_onnx(
    model: ModelProto,
    sample_shape: Sequence[int] | None = None,
    *,
    rules: RuleRegistry | None = None,
    source: str = "the model",
) -> BoundGraph:
    """The bound graph of ``model`` for inputs of per-sample shape ``sample_shape`` (default:
    the declared input shape without its batch axis). Raises
    :class:`CertificationUnsupportedError` listing every node that blocks certification."""
    graph, found = _Builder(model, sample_shape, rules).build()
    if found or graph is None:
        raise CertificationUnsupportedError(found, source)
    return graph


def blockers(
    model: ModelProto,
    sample_shape: Sequence[int] | None = None,
    *,
    rules: RuleRegistry | None = None,
) -> list[str]:
    """Every node that blocks certification, one line each (``node 'name' (OpType): why``);
    empty when the model can be certified."""
    return _Builder(model, sample_shape, rules).build()[1]


def _label(node: NodeProto, index: int) -> str:
    name = repr(node.name) if node.name else f"#{index}"
    return f"node {name} ({node.op_type})"


def _declared_dims(value: ValueInfoProto) -> list[int | None]:
    dims = value.type.tensor_type.shape.dim
    return [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None for d in dims]


def _as_float64(value: Tensor) -> Tensor:
    return value.to(torch.float64) if value.is_floating_point() else value


def _first(result: Tensor | tuple[Tensor | None, ...]) -> Tensor:
    out = result if isinstance(result, Tensor) else result[0]
    assert out is not None
    return out


class _Builder:
    def __init__(
        self,
        model: ModelProto,
        sample_shape: Sequence[int] | None,
        rules: RuleRegistry | None,
    ) -> None:
        self._model = inline_local_functions(model)
        self._rules = rules if rules is not None else default_rules()
        self._interpreter: OpRegistry = default_registry()
        self._opsets = model_opsets(self._model)
        self._sample_shape = sample_shape
        self._values: dict[str, _Value] = {}
        self._nodes: list[BoundNode] = []
        self._blockers: list[str] = []
        self._batch = 1

    def build(self) -> tuple[BoundGraph | None, list[str]]:
        graph = self._model.graph
        for init in graph.initializer:
            self._values[init.name] = _as_float64(tensor_from_proto(init))
        inputs = [v for v in graph.input if v.name not in self._values]
        if not inputs or not graph.output:
            return None, ["the model has no input or no output"]
        if not self._add_input(inputs[0]):
            return None, self._blockers
        output = graph.output[0].name
        needed = self._needed(output)
        for extra in inputs[1:]:
            if extra.name in needed:
                self._blockers.append(f"input {extra.name!r}: a second model input")
                self._values[extra.name] = _BLOCKED
        for index, node in enumerate(graph.node):
            if any(name in needed for name in node.output if name):
                self._visit(node, index, output, needed)
        result = self._values.get(output, _BLOCKED)
        if isinstance(result, Tensor):
            self._blockers.append(f"output {output!r}: does not depend on the input")
        if self._blockers or not isinstance(result, int):
            return None, self._blockers
        logger.debug("bound graph: %d nodes", len(self._nodes))
        return BoundGraph(tuple(self._nodes), result), []

    def _add_input(self, value: ValueInfoProto) -> bool:
        declared = _declared_dims(value)
        if declared and declared[0] is not None:
            self._batch = declared[0]
        shape = self._sample_shape
        if shape is None:
            if not declared or any(d is None for d in declared[1:]):
                self._blockers.append(
                    f"input {value.name!r}: its per-sample shape is not static; pass sample_shape"
                )
                return False
            shape = [d for d in declared[1:] if d is not None]
        self._values[value.name] = 0
        self._nodes.append(
            BoundNode(f"input {value.name!r}", None, (), tuple(int(d) for d in shape))
        )
        return True

    def _needed(self, output: str) -> set[str]:
        needed = {output}
        for node in reversed(self._model.graph.node):
            if any(name in needed for name in node.output):
                needed.update(name for name in node.input if name)
        return needed

    def _visit(self, node: NodeProto, index: int, output: str, needed: set[str]) -> None:
        label = _label(node, index)
        try:
            self._build_node(node, label, output, needed)
        except RuleRefused as err:
            self._block(node, f"{label}: {err}")
        except RobustcheckError as err:
            self._block(node, f"{label}: {err.message}")

    def _block(self, node: NodeProto, line: str) -> None:
        self._blockers.append(line)
        for name in node.output:
            self._values[name] = _BLOCKED

    def _build_node(self, node: NodeProto, label: str, output: str, needed: set[str]) -> None:
        args = [self._values.get(name, _BLOCKED) if name else None for name in node.input]
        if any(isinstance(a, _Blocked) for a in args):
            if self._rules.lookup(node.op_type) is None and node.op_type not in _SHAPE_OPS:
                raise RuleRefused("no bound rule for this op")
            dependent = sum(isinstance(a, (int, _Blocked)) for a in args)
            if node.op_type in _ONE_VARIABLE and dependent > 1:
                raise RuleRefused("combines two input-dependent tensors (not linear)")
            for name in node.output:
                self._values[name] = _BLOCKED
            return
        if node.domain not in ("", "ai.onnx"):
            raise RuleRefused(f"op of domain {node.domain!r}, which certification does not support")
        call = self._interpreter_call(node)
        variables = [a for a in args if isinstance(a, int)]
        if not variables:
            results = call(*args)
            results = (results,) if isinstance(results, Tensor) else results
            for name, value in zip(node.output, results, strict=False):
                if name and value is not None:
                    self._values[name] = _as_float64(value)
            return
        shapes = [self._nodes[v].shape for v in variables]
        if node.op_type in _SHAPE_OPS:
            self._values[node.output[0]] = _first(call(torch.zeros((self._batch, *shapes[0]))))
            return
        if node.op_type in _DROPPED_AT_OUTPUT and node.output[0] == output:
            if len(shapes[0]) != 1:
                raise RuleRefused("a softmax over more than a vector of logits")
            self._values[output] = variables[0]
            return
        factory = self._rules.lookup(node.op_type)
        if factory is None:
            raise RuleRefused("no bound rule for this op")
        for position, name in enumerate(node.output[1:], start=1):
            if name in needed:
                raise RuleRefused(
                    f"its output #{position} ({name!r}) is used; only the first is supported"
                )
        ctx = NodeContext(
            op_type=node.op_type,
            attributes={k: v for k, v in call.keywords.items() if k != OUTPUT_COUNT_PARAM},
            inputs=[a if isinstance(a, Tensor) else None for a in args],
            omitted=frozenset(i for i, a in enumerate(args) if a is None),
            variable_shapes=shapes,
            evaluate=lambda *a: _first(call(*a)),
            nominal_batch=self._batch,
        )
        rule = factory(ctx)
        shape = _per_sample_shape(rule, shapes)
        self._nodes.append(BoundNode(label, rule, tuple(variables), shape))
        self._values[node.output[0]] = len(self._nodes) - 1

    def _interpreter_call(self, node: NodeProto) -> partial[Any]:
        spec = resolve_node(node, self._opsets, self._interpreter)
        if has_subgraph(node):
            raise RuleRefused("control flow (a node with subgraphs) has no bound rule")
        if spec is None:
            raise RuleRefused("an op robustcheck's ONNX interpreter does not implement")
        attributes = parse_attributes(node)
        unknown = sorted(set(attributes) - spec.attributes)
        if unknown:
            raise RuleRefused(f"attribute(s) {unknown} are not understood")
        if spec.wants_output_count:
            attributes[OUTPUT_COUNT_PARAM] = len(node.output)
        return partial(spec.fn, **attributes)


def _per_sample_shape(rule: BoundRule, shapes: list[tuple[int, ...]]) -> tuple[int, ...]:
    """Run the rule on two random samples at once and one at a time: an op that mixes samples
    (through the batch axis) cannot be bounded per sample."""
    generator = torch.Generator().manual_seed(0)
    xs = [torch.randn((2, *s), generator=generator, dtype=torch.float64) for s in shapes]
    try:
        both = rule.forward(*xs)
        singles = [rule.forward(*(x[i : i + 1] for x in xs)) for i in range(2)]
    except (RuntimeError, ValueError, IndexError) as err:
        raise RuleRefused(f"does not keep samples apart ({str(err).splitlines()[0]})") from None
    if both.shape[0] != 2 or not torch.allclose(both, torch.cat(singles)):
        raise RuleRefused("mixes samples of a batch")
    return tuple(both.shape[1:])
