"""Every reason an ONNX model cannot be scanned white-box, found in one pass.

``scan`` (through :func:`robustcheck.backends.onnx.backend.load_onnx`) and ``inspect`` both ask
:func:`white_box_blockers`, so they agree on which models a gradient attack can take: more than
one input and none named, an attacked input that is not a float tensor, operators the gradient
twin lacks, and no gradient path from the attacked input to the scores. A scan with gradient-free
attacks only needs the attacked input to be a tensor onnxruntime can be fed.
"""

from __future__ import annotations

from dataclasses import dataclass

import onnx

from robustcheck.backends.onnx.twin import default_registry, non_differentiable_nodes
from robustcheck.backends.onnx.twin.analysis import inline_local_functions, unsupported_ops
from robustcheck.backends.onnx.twin.graph import WAYS_FORWARD
from robustcheck.backends.onnx.twin.registry import OpRegistry
from robustcheck.backends.onnx.twin.tensors import FLOATING_ONNX_TYPES
from robustcheck.errors import ModelError, UnsupportedModelError, quoted


@dataclass(frozen=True)
class GraphInput:
    name: str
    type: str
    """``tensor(float)``, ``tensor(int64)``, ``seq(...)``..., as onnxruntime names it."""
    elem_type: int | None
    """The ONNX element type of a tensor input; ``None`` for non-tensors."""

    @property
    def is_float(self) -> bool:
        return self.elem_type in FLOATING_ONNX_TYPES

    def describe(self) -> str:
        return f"{self.name!r}: {self.type}"


@dataclass(frozen=True)
class Blockers:
    """What stands between a model and a white-box scan of one of its inputs."""

    attacked: GraphInput | None
    """The input an attack perturbs; ``None`` when the model has several and none was named."""
    side: tuple[GraphInput, ...]
    """The other inputs, fed unchanged from the data."""
    reasons: tuple[str, ...]
    """Every blocker to white-box scanning, each one clause; empty when gradients can be taken."""

    @property
    def queryable(self) -> bool:
        """Whether a gradient-free scan can run: the attacked input is known and a tensor."""
        return self.attacked is not None and self.attacked.elem_type is not None

    def refusal(self, where: str) -> UnsupportedModelError:
        """The one error naming every blocker and both ways forward."""
        return UnsupportedModelError(
            f"{where}: cannot scan with gradient attacks: {'; '.join(self.reasons)}",
            hint=WAYS_FORWARD,
        )

    def not_queryable(self, where: str) -> ModelError:
        """Why not even a gradient-free scan can run (call only when not :attr:`queryable`)."""
        if self.attacked is None:
            listing = ", ".join(i.describe() for i in self.side)
            return UnsupportedModelError(
                f"{where}: the model has {len(self.side)} inputs ({listing})",
                hint="name the one to attack with --input NAME; the data file supplies the "
                "others as arrays named after them",
            )
        return UnsupportedModelError(
            f"{where}: input {self.attacked.name!r} has type {self.attacked.type}, which cannot "
            "be perturbed (only tensor inputs can)"
        )


def scores_output(graph: onnx.GraphProto) -> str | None:
    """The output ``scan`` would pick: the first float tensor of rank ≥ 2, else a ZipMap sequence."""
    floats = {onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.DOUBLE}
    for output in graph.output:
        tensor = output.type.tensor_type
        if (
            output.type.HasField("tensor_type")
            and tensor.elem_type in floats
            and len(tensor.shape.dim) >= 2
        ):
            return output.name
    sequences = [o.name for o in graph.output if o.type.HasField("sequence_type")]
    return sequences[0] if sequences else None


def graph_inputs(model: onnx.ModelProto) -> list[GraphInput]:
    """The inputs a caller feeds (initializers listed as inputs are not)."""
    initializers = {init.name for init in model.graph.initializer}
    return [_graph_input(v) for v in model.graph.input if v.name not in initializers]


def _graph_input(value: onnx.ValueInfoProto) -> GraphInput:
    kind = value.type.WhichOneof("value")
    if kind != "tensor_type":
        return GraphInput(name=value.name, type=kind or "unknown", elem_type=None)
    elem = value.type.tensor_type.elem_type
    name = onnx.helper.tensor_dtype_to_np_dtype(elem).name if elem else "undefined"
    return GraphInput(name=value.name, type=f"tensor({_ORT_NAMES.get(name, name)})", elem_type=elem)


_ORT_NAMES = {"float32": "float", "float64": "double"}


def white_box_blockers(
    model: onnx.ModelProto,
    *,
    output: str | None,
    input_name: str | None = None,
    registry: OpRegistry | None = None,
    where: str = "the model",
) -> Blockers:
    """Every blocker to differentiating ``output`` with respect to the attacked input (the one
    named, else the only one). An unknown ``input_name`` is an error of its own, not a blocker."""
    registry = registry if registry is not None else default_registry()
    model = inline_local_functions(model)
    inputs = graph_inputs(model)
    attacked = _attacked(inputs, input_name, where)
    side = tuple(i for i in inputs if i is not attacked)
    reasons: list[str] = []
    if attacked is None:
        listing = ", ".join(i.describe() for i in inputs)
        reasons.append(f"it has {len(inputs)} inputs ({listing}) and --input names none")
    elif not attacked.is_float:
        reasons.append(
            f"input {attacked.name!r} has type {attacked.type}: integer or non-tensor inputs are "
            "not differentiable"
        )
    missing = unsupported_ops(model, registry)
    if missing:
        noun = "operator" if len(missing) == 1 else "operators"
        listed = ", ".join(f"{d or 'ai.onnx'}::{op} (opset {v})" for d, op, v in missing)
        reasons.append(f"it uses {len(missing)} {noun} the gradient twin lacks: {listed}")
    elif output is not None and (attacked is None or attacked.is_float):
        starts = None if attacked is None else [attacked.name]
        cut = non_differentiable_nodes(model, registry, outputs=[output], inputs=starts)
        if cut:
            source = "the inputs" if attacked is None else f"input {attacked.name!r}"
            reasons.append(
                f"no gradient flows from {source} to output {output!r}: it stops at "
                f"{', '.join(cut[:5])}{' and more' if len(cut) > 5 else ''}"
            )
    return Blockers(attacked=attacked, side=side, reasons=tuple(reasons))


def _attacked(inputs: list[GraphInput], name: str | None, where: str) -> GraphInput | None:
    if name is not None:
        for value in inputs:
            if value.name == name:
                return value
        raise ModelError(
            f"{where}: --input {name!r} is not an input of the model (have: "
            f"{quoted(i.name for i in inputs)})"
        )
    return inputs[0] if len(inputs) == 1 else None
