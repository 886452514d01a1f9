"""One ONNX graph prepared for eager execution: the main graph and every subgraph alike.

A :class:`Program` resolves its nodes' operators, converts its initializers, folds its
``Constant`` nodes and parses attributes once; a graph attribute (``If``'s branches, ``Loop``'s
and ``Scan``'s body) becomes a nested :class:`Program` compiled the same way. ``execute`` walks a
precomputed plan and releases each intermediate after its last use. A subgraph runs through
the same ``execute`` with the enclosing scope's values visible (outer-scope references), and a
node that holds subgraphs counts the values they read as its own inputs, so the enclosing plan
keeps them until that node has run.
"""

from __future__ import annotations

import logging
from collections import ChainMap
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import torch
from onnx import GraphProto, NodeProto
from torch import Tensor

from robustcheck.backends.onnx.twin.analysis import describe_node, resolve_node
from robustcheck.backends.onnx.twin.attributes import parse_attributes
from robustcheck.backends.onnx.twin.registry import OpRegistry, OpSpec
from robustcheck.backends.onnx.twin.tensors import (
    FLOATING_ONNX_TYPES,
    onnx_elem_type,
    tensor_from_proto,
)
from robustcheck.boundary import one_line_reason, out_of_memory
from robustcheck.errors import (
    DataError,
    RobustcheckError,
    UnsupportedModelError,
    UsageError,
    quoted,
)

logger = logging.getLogger(__name__)

DOCS_HINT = "see docs/onnx-ops.md or open an issue"
WAYS_FORWARD = (
    "use a gradient-free attack (--attack square, or --attack spsa / nes), or transfer attacks "
    "crafted on a differentiable surrogate (--surrogate MODEL)"
)
"""The hint of every white-box refusal: the two ways a model without a gradient is still scanned."""

_SCOPE_SEPARATOR = " > "


class TwinNodeError(UnsupportedModelError):
    """The gradient twin failed on one node (building or running it): the node is named, and
    whatever raised inside the op, torch or robustcheck, becomes this one input error (exit 3),
    never an internal error. Running out of memory is not caught: that is the environment's.
    A node inside a subgraph is named by its path: ``'if' (If) > then_branch > 'add' (Add)``."""

    def __init__(self, source: str, label: str, doing: str, cause: BaseException) -> None:
        detail = cause.message if isinstance(cause, RobustcheckError) else one_line_reason(cause)
        super().__init__(
            f"{source}: the gradient twin cannot {doing} node {label}: {detail}",
            hint=WAYS_FORWARD,
        )
        self.node = label


@contextmanager
def node_errors(source: str, label: str, doing: str) -> Iterator[None]:
    """Any exception raised in the block is the node's (see :class:`TwinNodeError`), except
    running out of memory and an error that already names its node (one in a subgraph, whose
    label already names the enclosing node)."""
    try:
        yield
    except TwinNodeError:
        raise
    except Exception as exc:
        if out_of_memory(exc):
            raise
        raise TwinNodeError(source, label, doing, exc) from exc


@dataclass(frozen=True)
class _Step:
    label: str
    spec: OpSpec
    inputs: tuple[str, ...]
    """Input value names; ``""`` marks an omitted optional input."""
    outputs: tuple[str, ...]
    attributes: Mapping[str, Any]
    reads: tuple[str, ...]
    """``inputs`` and the enclosing-scope values its subgraphs read: what the plan keeps alive."""
    subgraphs: tuple[str, ...] = ()
    """Attributes holding a :class:`Program` (bound to the current scope when the step runs)."""


class _Bound:
    """A subgraph bound to the scope its node runs in; ops call it with the subgraph's inputs."""

    def __init__(self, program: Program, scope: MutableMapping[str, Tensor]) -> None:
        self._program = program
        self._scope = scope

    def __call__(self, *inputs: Tensor) -> tuple[Tensor, ...]:
        return self._program.call(inputs, self._scope)


def as_outputs(result: Tensor | tuple[Tensor | None, ...]) -> tuple[Tensor | None, ...]:
    return (result,) if isinstance(result, Tensor) else tuple(result)


class Program:
    """An ONNX graph whose nodes are prepared steps; see the module docstring."""

    def __init__(
        self,
        graph: GraphProto,
        opsets: dict[str, int],
        registry: OpRegistry,
        *,
        source: str,
        prefix: str = "",
    ) -> None:
        self._source = source
        self._prefix = prefix
        self._opsets = opsets
        self._registry = registry
        self.constants: dict[str, Tensor] = {}
        # Values torch cannot hold (string class names on a label path, say) only matter
        # if a requested output needs them, so they are refused lazily, in plan.
        self.unavailable: dict[str, str] = {}
        for init in graph.initializer:
            try:
                self.constants[init.name] = tensor_from_proto(init)
            except UnsupportedModelError as err:
                self.unavailable[init.name] = f"initializer {init.name!r}: {err.message}"
        initializers = {init.name for init in graph.initializer}
        self.input_names: list[str] = [v.name for v in graph.input if v.name not in initializers]
        self.output_names: list[str] = [v.name for v in graph.output]
        prepared = (self._prepare(node, index) for index, node in enumerate(graph.node))
        self.steps: list[_Step] = [step for step in prepared if step is not None]
        self.outer_reads = self._outer_reads()
        self._plans: dict[tuple[str, ...], tuple[list[_Step], list[list[str]]]] = {}
        logger.debug(
            "twin prepared %s: %d steps, %d constants",
            prefix or "the graph",
            len(self.steps),
            len(self.constants),
        )

    def _prepare(self, node: NodeProto, index: int) -> _Step | None:
        spec = resolve_node(node, self._opsets, self._registry)
        assert spec is not None  # unsupported_ops() already refused the model
        label = self._prefix + describe_node(node, index)
        with node_errors(self._source, label, "prepare"):
            step = self._build_step(node, label, spec)
            if node.op_type == "Constant" and not spec.domain:
                self._fold_constant(node, step)
                return None
            return step

    def _build_step(self, node: NodeProto, label: str, spec: OpSpec) -> _Step:
        def compile_graph(name: str, graph: GraphProto) -> Program:
            inner = f"{label}{_SCOPE_SEPARATOR}{name}{_SCOPE_SEPARATOR}"
            return Program(graph, self._opsets, self._registry, source=self._source, prefix=inner)

        attributes = parse_attributes(node, compile_graph)
        unknown = sorted(set(attributes) - spec.attributes)
        if unknown:
            raise UnsupportedModelError(
                f"it has attribute(s) {quoted(unknown)}, which the twin's {spec.op_type} (since "
                f"opset {spec.since_version}) does not understand; {DOCS_HINT}"
            )
        subgraphs = tuple(name for name, value in attributes.items() if _is_program(value))
        reads = list(node.input)
        for name in subgraphs:
            for program in _programs(attributes[name]):
                reads.extend(program.outer_reads)
        if spec.wants_output_count:
            attributes["output_count"] = len(node.output)
        return _Step(
            label,
            spec,
            tuple(node.input),
            tuple(node.output),
            attributes,
            tuple(dict.fromkeys(reads)),
            subgraphs,
        )

    def _fold_constant(self, node: NodeProto, step: _Step) -> None:
        """Evaluated once: a Constant's value never depends on the inputs."""
        try:
            value = as_outputs(step.spec.fn(**step.attributes))[0]
        except UnsupportedModelError as err:
            self.unavailable[node.output[0]] = err.message
            return
        assert value is not None
        self.constants[node.output[0]] = value

    def _outer_reads(self) -> tuple[str, ...]:
        """Names this graph reads without defining them: values of an enclosing scope."""
        local = {*self.input_names, *self.constants, *self.unavailable}
        local.update(name for step in self.steps for name in step.outputs if name)
        reads = [name for step in self.steps for name in step.reads if name]
        return tuple(dict.fromkeys(n for n in (*reads, *self.output_names) if n not in local))

    @property
    def straight_through_nodes(self) -> int:
        """How many nodes, subgraphs included, round with a straight-through gradient."""
        count = 0
        for step in self.steps:
            count += int(step.spec.straight_through)
            for name in step.subgraphs:
                count += sum(p.straight_through_nodes for p in _programs(step.attributes[name]))
        return count

    def to(self, dtype: torch.dtype | None, device: torch.device | str | None) -> Program:
        """Move constants and tensor attributes, subgraphs included (see ``OnnxTwin.to``)."""
        self.constants = {
            name: _move(value, dtype, device) for name, value in self.constants.items()
        }
        self.steps = [_move_step(step, dtype, device) for step in self.steps]
        self._plans.clear()
        return self

    def call(
        self, inputs: Sequence[Tensor], scope: MutableMapping[str, Tensor]
    ) -> tuple[Tensor, ...]:
        """Run this graph as a subgraph: ``inputs`` bind its inputs in order, and names it does
        not define are looked up in ``scope``; writes and releases stay in the subgraph's own
        layer, so ``scope`` is never modified."""
        if len(inputs) != len(self.input_names):
            raise UnsupportedModelError(
                f"the subgraph takes {len(self.input_names)} input(s), given {len(inputs)}"
            )
        local = dict(self.constants)
        local.update(zip(self.input_names, inputs, strict=True))
        values: ChainMap[str, Tensor] = ChainMap(local, scope)
        wanted = tuple(self.output_names)
        self.execute(values, wanted)
        return tuple(values[name] for name in wanted)

    def execute(self, values: MutableMapping[str, Tensor], wanted: tuple[str, ...]) -> None:
        """Compute ``wanted`` into ``values`` (which holds the inputs and constants)."""
        steps, releases = self.plan(wanted)
        for step, release in zip(steps, releases, strict=True):
            self._execute(step, values)
            for name in release:
                values.pop(name, None)

    def _execute(self, step: _Step, values: MutableMapping[str, Tensor]) -> None:
        try:
            args = [values[name] if name else None for name in step.inputs]
        except KeyError as err:
            raise DataError(
                f"{step.label} needs input {err.args[0]!r}, which was not fed"
            ) from None
        attributes = step.attributes
        if step.subgraphs:
            attributes = dict(attributes)
            for name in step.subgraphs:
                bound = [_Bound(p, values) for p in _programs(attributes[name])]
                attributes[name] = bound if isinstance(attributes[name], list) else bound[0]
        with node_errors(self._source, step.label, "compute"):
            results = as_outputs(step.spec.fn(*args, **attributes))
        for position, name in enumerate(step.outputs):
            if not name:
                continue
            if position >= len(results) or results[position] is None:
                raise UnsupportedModelError(
                    f"{self._source}: {step.label}: the gradient twin does not compute output "
                    f"#{position} ({name!r}) of {step.spec.op_type}; {DOCS_HINT}"
                )
            values[name] = results[position]  # type: ignore[assignment]

    def plan(self, wanted: tuple[str, ...]) -> tuple[list[_Step], list[list[str]]]:
        """The steps ``wanted`` depends on, and after each step the values no longer needed."""
        if wanted in self._plans:
            return self._plans[wanted]
        known = {*self.input_names, *self.constants, *self.unavailable, *self.outer_reads}
        known.update(name for step in self.steps for name in step.outputs if name)
        unknown = [name for name in wanted if name not in known]
        if unknown:
            raise UsageError(f"the model has no value(s) named {quoted(unknown)}")
        needed = set(wanted)
        selected: list[_Step] = []
        for step in reversed(self.steps):
            if any(name in needed for name in step.outputs if name):
                selected.append(step)
                needed.update(name for name in step.reads if name)
        selected.reverse()
        blocked = sorted(needed & set(self.unavailable))
        if blocked:
            reasons = "; ".join(self.unavailable[name] for name in blocked)
            raise UnsupportedModelError(
                f"computing {quoted(wanted)} needs values the gradient twin cannot hold: {reasons}"
            )
        keep = {*self.constants, *self.outer_reads, *wanted}
        plan = (selected, _release_schedule(selected, keep))
        self._plans[wanted] = plan
        return plan


def _is_program(value: Any) -> bool:
    return isinstance(value, Program) or (
        isinstance(value, list) and bool(value) and isinstance(value[0], Program)
    )


def _programs(value: Program | list[Program]) -> list[Program]:
    return value if isinstance(value, list) else [value]


def _release_schedule(steps: list[_Step], keep: set[str]) -> list[list[str]]:
    # Freeing intermediates after their last use keeps peak memory near that of one layer
    # when no gradient is recorded; wanted outputs, constants and values of an enclosing
    # scope are never released. A value a subgraph reads counts as read by its node.
    last_use: dict[str, int] = {}
    for index, step in enumerate(steps):
        for name in (*step.reads, *step.outputs):
            if name:
                last_use[name] = index
    releases: list[list[str]] = [[] for _ in steps]
    for name, index in last_use.items():
        if name not in keep:
            releases[index].append(name)
    return releases


def _move(value: Tensor, dtype: torch.dtype | None, device: torch.device | str | None) -> Tensor:
    cast = dtype if dtype is not None and value.is_floating_point() else value.dtype
    return value.to(device=device, dtype=cast)


def _move_attribute(
    value: Any, dtype: torch.dtype | None, device: torch.device | str | None
) -> Any:
    if isinstance(value, Tensor):
        return _move(value, dtype, device)
    if _is_program(value):
        for program in _programs(value):
            program.to(dtype, device)
    return value


def _move_step(step: _Step, dtype: torch.dtype | None, device: torch.device | str | None) -> _Step:
    attributes = {
        name: _move_attribute(value, dtype, device) for name, value in step.attributes.items()
    }
    is_cast = step.spec.op_type == "Cast" and not step.spec.domain
    if dtype is not None and is_cast and attributes.get("to") in FLOATING_ONNX_TYPES:
        attributes["to"] = onnx_elem_type(dtype)
    return replace(step, attributes=attributes)
