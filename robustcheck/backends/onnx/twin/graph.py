"""The gradient twin: an ONNX graph executed node by node with torch, so autograd flows.

Everything that does not depend on the inputs happens once in ``__init__``: operator
resolution, initializer conversion, ``Constant`` folding and attribute parsing. ``run`` then
walks a precomputed step list and releases each intermediate after its last use.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import torch
from onnx import ModelProto, NodeProto, ValueInfoProto
from torch import Tensor

from robustcheck.backends.onnx.twin.analysis import (
    OpKey,
    describe_node,
    inline_local_functions,
    model_opsets,
    resolve_node,
    unsupported_ops,
)
from robustcheck.backends.onnx.twin.attributes import parse_attributes
from robustcheck.backends.onnx.twin.ops import default_registry
from robustcheck.backends.onnx.twin.registry import OpRegistry, OpSpec
from robustcheck.backends.onnx.twin.tensors import (
    FLOATING_ONNX_TYPES,
    onnx_elem_type,
    tensor_from_proto,
    torch_dtype,
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

_DOCS_HINT = "see docs/onnx-ops.md or open an issue"
WAYS_FORWARD = (
    "use a gradient-free attack (--attack square, or --attack spsa / nes), or transfer attacks "
    "crafted on a differentiable surrogate (--surrogate MODEL)"
)
"""The hint of every white-box refusal: the two ways a model without a gradient is still scanned."""


@dataclass(frozen=True)
class _Step:
    label: str
    spec: OpSpec
    inputs: tuple[str, ...]
    """Input value names; ``""`` marks an omitted optional input."""
    outputs: tuple[str, ...]
    attributes: Mapping[str, Any]


def _format_op(key: OpKey) -> str:
    domain, op_type, opset = key
    return f"{domain}::{op_type} (opset {opset})"


class TwinNodeError(UnsupportedModelError):
    """The gradient twin failed on one node (building or running it): the node is named, and
    whatever raised inside the op, torch or robustcheck, becomes this one input error (exit 3),
    never an internal error. Running out of memory is not caught: that is the environment's."""

    def __init__(self, source: str, label: str, doing: str, cause: BaseException) -> None:
        detail = cause.message if isinstance(cause, RobustcheckError) else one_line_reason(cause)
        super().__init__(
            f"{source}: the gradient twin cannot {doing} node {label}: {detail}",
            hint=WAYS_FORWARD,
        )
        self.node = label


@contextmanager
def _node_errors(source: str, label: str, doing: str) -> Iterator[None]:
    """Any exception raised in the block is the node's (see :class:`TwinNodeError`), except
    running out of memory and an error that already names its node."""
    try:
        yield
    except TwinNodeError:
        raise
    except Exception as exc:
        if out_of_memory(exc):
            raise
        raise TwinNodeError(source, label, doing, exc) from exc


class UnsupportedOperatorsError(UnsupportedModelError):
    """Every operator the twin lacks, named in one line; the keys are on ``ops``."""

    def __init__(self, ops: list[OpKey], source: str) -> None:
        noun = "operator" if len(ops) == 1 else "operators"
        listed = ", ".join(_format_op(key) for key in ops)
        super().__init__(
            f"{source} uses {len(ops)} {noun} the gradient twin does not implement: "
            f"{listed}; {_DOCS_HINT}"
        )
        self.ops = ops


def _build_step(node: NodeProto, index: int, spec: OpSpec) -> _Step:
    label = describe_node(node, index)
    attributes = parse_attributes(node)
    unknown = sorted(set(attributes) - spec.attributes)
    if unknown:
        raise UnsupportedModelError(
            f"it has attribute(s) {quoted(unknown)}, which the twin's {spec.op_type} (since "
            f"opset {spec.since_version}) does not understand; {_DOCS_HINT}"
        )
    if spec.wants_output_count:
        attributes["output_count"] = len(node.output)
    return _Step(label, spec, tuple(node.input), tuple(node.output), attributes)


def _as_outputs(result: Tensor | tuple[Tensor | None, ...]) -> tuple[Tensor | None, ...]:
    return (result,) if isinstance(result, Tensor) else tuple(result)


class OnnxTwin:
    """A differentiable torch interpreter for one ONNX model.

    ``OnnxTwin(model)`` raises :class:`UnsupportedModelError` naming every operator it lacks
    (the list is on ``err.ops``). ``run(feeds)`` returns the graph outputs as torch tensors
    with autograd attached to whatever in ``feeds`` requires grad.
    """

    def __init__(
        self,
        model: ModelProto,
        registry: OpRegistry | None = None,
        *,
        source: str = "the ONNX model",
    ) -> None:
        registry = registry if registry is not None else default_registry()
        model = inline_local_functions(model)
        missing = unsupported_ops(model, registry)
        if missing:
            raise UnsupportedOperatorsError(missing, source)
        graph = model.graph
        self._source = source
        self._constants: dict[str, Tensor] = {}
        # Values torch cannot hold (string class names on a label path, say) only matter
        # if a requested output needs them, so they are refused lazily, in _plan.
        self._unavailable: dict[str, str] = {}
        for init in graph.initializer:
            try:
                self._constants[init.name] = tensor_from_proto(init)
            except UnsupportedModelError as err:
                self._unavailable[init.name] = f"initializer {init.name!r}: {err.message}"
        initializers = {init.name for init in graph.initializer}
        self.input_names: list[str] = [v.name for v in graph.input if v.name not in initializers]
        self.output_names: list[str] = [v.name for v in graph.output]
        self._integer_outputs = _integer_outputs(graph.output)
        self._steps = self._prepare_steps(model, registry)
        self._plans: dict[tuple[str, ...], tuple[list[_Step], list[list[str]]]] = {}

    @property
    def straight_through_nodes(self) -> int:
        """How many nodes round to an integer type with a straight-through gradient."""
        return sum(step.spec.straight_through for step in self._steps)

    def _prepare_steps(self, model: ModelProto, registry: OpRegistry) -> list[_Step]:
        opsets = model_opsets(model)
        steps: list[_Step] = []
        for index, node in enumerate(model.graph.node):
            spec = resolve_node(node, opsets, registry)
            assert spec is not None  # unsupported_ops() already refused the model
            with _node_errors(self._source, describe_node(node, index), "prepare"):
                if node.op_type == "Constant" and not spec.domain:
                    self._fold_constant(node, index, spec)
                else:
                    steps.append(_build_step(node, index, spec))
        logger.debug("twin prepared: %d steps, %d constants", len(steps), len(self._constants))
        return steps

    def _fold_constant(self, node: NodeProto, index: int, spec: OpSpec) -> None:
        """Evaluated once: a Constant's value never depends on the inputs."""
        try:
            value = _as_outputs(spec.fn(**_build_step(node, index, spec).attributes))[0]
        except UnsupportedModelError as err:
            self._unavailable[node.output[0]] = err.message
            return
        assert value is not None
        self._constants[node.output[0]] = value

    def to(
        self, dtype: torch.dtype | None = None, device: torch.device | str | None = None
    ) -> OnnxTwin:
        """Move constants (and tensor attributes) to ``device``, cast floating ones to
        ``dtype``; returns self.

        With a floating ``dtype`` (float64 for gradcheck) Cast nodes that target a float type
        are retargeted too, so the whole float path runs at that precision.
        """
        if dtype is not None and not dtype.is_floating_point:
            raise UsageError(f"the twin can only be cast to a floating dtype, not {dtype}")
        self._constants = {
            name: _move(value, dtype, device) for name, value in self._constants.items()
        }
        self._steps = [_move_step(step, dtype, device) for step in self._steps]
        self._plans.clear()
        return self

    def make_trainable(self, names: Sequence[str]) -> dict[str, Tensor]:
        """Turn the named floating constants into leaf tensors that require grad, in place, and
        return them: ``run`` then records autograd through them (``robustcheck harden``)."""
        trainable: dict[str, Tensor] = {}
        for name in names:
            value = self._constants.get(name)
            if value is None or not value.is_floating_point():
                raise UsageError(f"{name!r} is not a floating constant of the graph")
            trainable[name] = self._constants[name] = value.detach().clone().requires_grad_(True)
        return trainable

    def run(
        self, feeds: Mapping[str, Tensor], outputs: Sequence[str] | None = None
    ) -> dict[str, Tensor]:
        """Execute the graph; ``outputs`` defaults to every graph output."""
        wanted = tuple(outputs) if outputs is not None else tuple(self.output_names)
        steps, releases = self._plan(wanted)
        values = self._initial_values(feeds)
        for step, release in zip(steps, releases, strict=True):
            self._execute(step, values)
            for name in release:
                values.pop(name, None)
        return {name: self._declared(name, values[name]) for name in wanted}

    def _declared(self, name: str, value: Tensor) -> Tensor:
        """A graph output in its declared type: an integer output computed on the
        differentiable path arrives as a carried integer (floats holding the integers)."""
        dtype = self._integer_outputs.get(name)
        if dtype is not None and value.is_floating_point():
            return value.detach().to(dtype)
        return value

    def _initial_values(self, feeds: Mapping[str, Tensor]) -> dict[str, Tensor]:
        unknown = sorted(set(feeds) - set(self.input_names))
        if unknown:
            raise DataError(
                f"the model has no input(s) named {quoted(unknown)}; "
                f"its inputs are {quoted(self.input_names)}"
            )
        values = dict(self._constants)
        values.update(feeds)
        return values

    def _execute(self, step: _Step, values: dict[str, Tensor]) -> None:
        try:
            args = [values[name] if name else None for name in step.inputs]
        except KeyError as err:
            raise DataError(
                f"{step.label} needs input {err.args[0]!r}, which was not fed"
            ) from None
        with _node_errors(self._source, step.label, "compute"):
            results = _as_outputs(step.spec.fn(*args, **step.attributes))
        for position, name in enumerate(step.outputs):
            if not name:
                continue
            if position >= len(results) or results[position] is None:
                raise UnsupportedModelError(
                    f"{self._source}: {step.label}: the gradient twin does not compute output "
                    f"#{position} "
                    f"({name!r}) of {step.spec.op_type}; {_DOCS_HINT}"
                )
            values[name] = results[position]  # type: ignore[assignment]

    def _plan(self, wanted: tuple[str, ...]) -> tuple[list[_Step], list[list[str]]]:
        """The steps ``wanted`` depends on, and after each step the values no longer needed."""
        if wanted in self._plans:
            return self._plans[wanted]
        known = set(self.input_names) | set(self._constants) | set(self._unavailable)
        known.update(name for step in self._steps for name in step.outputs if name)
        unknown = [name for name in wanted if name not in known]
        if unknown:
            raise UsageError(f"the model has no value(s) named {quoted(unknown)}")
        needed = set(wanted)
        selected: list[_Step] = []
        for step in reversed(self._steps):
            if any(name in needed for name in step.outputs if name):
                selected.append(step)
                needed.update(name for name in step.inputs if name)
        selected.reverse()
        blocked = sorted(needed & set(self._unavailable))
        if blocked:
            reasons = "; ".join(self._unavailable[name] for name in blocked)
            raise UnsupportedModelError(
                f"computing {quoted(wanted)} needs values the gradient twin cannot hold: {reasons}"
            )
        plan = (selected, _release_schedule(selected, wanted, set(self._constants)))
        self._plans[wanted] = plan
        return plan


def _integer_outputs(outputs: Sequence[ValueInfoProto]) -> dict[str, torch.dtype]:
    declared: dict[str, torch.dtype] = {}
    for value in outputs:
        elem_type = value.type.tensor_type.elem_type
        if elem_type and elem_type not in FLOATING_ONNX_TYPES:
            try:
                dtype = torch_dtype(elem_type)
            except UnsupportedModelError:
                continue  # refused when (and if) the output is computed
            if not dtype.is_floating_point and dtype != torch.bool:
                declared[value.name] = dtype
    return declared


def _release_schedule(steps: list[_Step], wanted: Sequence[str], keep: set[str]) -> list[list[str]]:
    # Freeing intermediates after their last use keeps peak memory near that of one layer
    # when no gradient is recorded; graph outputs and constants are never released.
    last_use: dict[str, int] = {}
    for index, step in enumerate(steps):
        for name in (*step.inputs, *step.outputs):
            if name:
                last_use[name] = index
    protected = keep | set(wanted)
    releases: list[list[str]] = [[] for _ in steps]
    for name, index in last_use.items():
        if name not in protected:
            releases[index].append(name)
    return releases


def _move(value: Tensor, dtype: torch.dtype | None, device: torch.device | str | None) -> Tensor:
    cast = dtype if dtype is not None and value.is_floating_point() else value.dtype
    return value.to(device=device, dtype=cast)


def _move_step(step: _Step, dtype: torch.dtype | None, device: torch.device | str | None) -> _Step:
    attributes = {
        name: _move(value, dtype, device) if isinstance(value, Tensor) else value
        for name, value in step.attributes.items()
    }
    is_cast = step.spec.op_type == "Cast" and not step.spec.domain
    if dtype is not None and is_cast and attributes.get("to") in FLOATING_ONNX_TYPES:
        attributes["to"] = onnx_elem_type(dtype)
    return replace(step, attributes=attributes)
