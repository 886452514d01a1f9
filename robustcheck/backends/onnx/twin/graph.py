"""The gradient twin: an ONNX graph executed node by node with torch, so autograd flows.

Everything that does not depend on the inputs happens once in ``__init__``: operator
resolution, initializer conversion, ``Constant`` folding and attribute parsing, for the main
graph and its subgraphs alike (see :mod:`robustcheck.backends.onnx.twin.program`). ``run``
then walks a precomputed step list and releases each intermediate after its last use.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import torch
from onnx import ModelProto, ValueInfoProto
from torch import Tensor

from robustcheck.backends.onnx.twin.analysis import (
    OpKey,
    inline_local_functions,
    model_opsets,
    unsupported_ops,
)
from robustcheck.backends.onnx.twin.ops import default_registry
from robustcheck.backends.onnx.twin.program import (
    DOCS_HINT,
    WAYS_FORWARD,
    Program,
    TwinNodeError,
)
from robustcheck.backends.onnx.twin.registry import OpRegistry
from robustcheck.backends.onnx.twin.tensors import FLOATING_ONNX_TYPES, torch_dtype
from robustcheck.errors import DataError, UnsupportedModelError, UsageError, quoted

__all__ = ["WAYS_FORWARD", "OnnxTwin", "TwinNodeError", "UnsupportedOperatorsError"]

logger = logging.getLogger(__name__)


def _format_op(key: OpKey) -> str:
    domain, op_type, opset = key
    return f"{domain}::{op_type} (opset {opset})"


class UnsupportedOperatorsError(UnsupportedModelError):
    """Every operator the twin lacks, named in one line; the keys are on ``ops``."""

    def __init__(self, ops: list[OpKey], source: str) -> None:
        noun = "operator" if len(ops) == 1 else "operators"
        listed = ", ".join(_format_op(key) for key in ops)
        super().__init__(
            f"{source} uses {len(ops)} {noun} the gradient twin does not implement: "
            f"{listed}; {DOCS_HINT}"
        )
        self.ops = ops


class OnnxTwin:
    """A differentiable torch interpreter for one ONNX model.

    ``OnnxTwin(model)`` raises :class:`UnsupportedModelError` naming every operator it lacks,
    subgraphs included (the list is on ``err.ops``). ``run(feeds)`` returns the graph outputs
    as torch tensors with autograd attached to whatever in ``feeds`` requires grad.
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
        self._program = Program(model.graph, model_opsets(model), registry, source=source)
        self.input_names: list[str] = self._program.input_names
        self.output_names: list[str] = self._program.output_names
        self._integer_outputs = _integer_outputs(model.graph.output)

    @property
    def straight_through_nodes(self) -> int:
        """How many nodes round to an integer type with a straight-through gradient."""
        return self._program.straight_through_nodes

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
        self._program.to(dtype, device)
        return self

    def make_trainable(self, names: Sequence[str]) -> dict[str, Tensor]:
        """Turn the named floating constants into leaf tensors that require grad, in place, and
        return them: ``run`` then records autograd through them (``robustcheck harden``)."""
        constants = self._program.constants
        trainable: dict[str, Tensor] = {}
        for name in names:
            value = constants.get(name)
            if value is None or not value.is_floating_point():
                raise UsageError(f"{name!r} is not a floating constant of the graph")
            trainable[name] = constants[name] = value.detach().clone().requires_grad_(True)
        return trainable

    def run(
        self, feeds: Mapping[str, Tensor], outputs: Sequence[str] | None = None
    ) -> dict[str, Tensor]:
        """Execute the graph; ``outputs`` defaults to every graph output."""
        wanted = tuple(outputs) if outputs is not None else tuple(self.output_names)
        self._program.plan(wanted)  # an unknown output is refused before anything runs
        values = self._initial_values(feeds)
        self._program.execute(values, wanted)
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
        values = dict(self._program.constants)
        values.update(feeds)
        return values


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
