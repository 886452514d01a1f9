"""Which graph input to perturb and which output holds the class scores."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx

from robustcheck.errors import ModelError, UnsupportedModelError, quoted

FLOAT_TYPES = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(double)": np.float64,
}


@dataclass(frozen=True)
class InputSpec:
    name: str
    shape: tuple[int | None, ...]
    dtype: np.dtype

    @property
    def static_batch(self) -> int | None:
        first = self.shape[0] if self.shape else None
        return first if isinstance(first, int) and first > 0 else None


@dataclass(frozen=True)
class OutputSpec:
    name: str
    zipmap: bool
    """skl2onnx's ZipMap output: a list of {class: probability} dicts per sample."""
    note: str | None = None


def _dims(shape: list[object]) -> tuple[int | None, ...]:
    return tuple(d if isinstance(d, int) and d > 0 else None for d in shape)


TENSOR_TYPES: dict[str, type] = {
    **FLOAT_TYPES,
    **{
        f"tensor({name})": np.dtype(name).type
        for name in ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")
    },
    "tensor(bool)": np.bool_,
}
"""The tensor inputs robustcheck can feed from numpy arrays."""


def input_spec(session: object, name: str, where: str) -> InputSpec:
    """The spec of input ``name`` (known to exist: the blockers check named it)."""
    (spec,) = [i for i in session.get_inputs() if i.name == name]  # type: ignore[attr-defined]
    if spec.type not in TENSOR_TYPES:
        raise UnsupportedModelError(
            f"{where}: input {spec.name!r} has type {spec.type}, which robustcheck cannot feed"
        )
    return InputSpec(
        name=spec.name,
        shape=_dims(spec.shape),
        dtype=np.dtype(TENSOR_TYPES[spec.type]),
    )


def choose_output(session: object, where: str, requested: str | None) -> OutputSpec:
    outputs = session.get_outputs()  # type: ignore[attr-defined]
    by_name = {o.name: o for o in outputs}
    if requested is not None:
        if requested not in by_name:
            raise ModelError(
                f"{where}: --output {requested!r} is not an output (have: {quoted(by_name)})"
            )
        return OutputSpec(name=requested, zipmap=by_name[requested].type.startswith("seq(map"))
    scores = [o for o in outputs if o.type in FLOAT_TYPES and len(o.shape) >= 2]
    zipmaps = [o for o in outputs if o.type.startswith("seq(map(")]
    candidates = scores or zipmaps
    if not candidates:
        listing = ", ".join(f"{o.name}: {o.type}" for o in outputs)
        if all(o.type not in FLOAT_TYPES for o in outputs):
            raise UnsupportedModelError(
                f"{where}: the model outputs labels only ({listing}), no class probabilities: "
                "every attack, gradient-free ones too, needs a score per class",
                hint="export the probability output as well (skl2onnx and onnxmltools keep it "
                "unless it is removed)",
            )
        raise ModelError(
            f"{where}: no output looks like class scores ({listing})",
            hint="choose one with --output",
        )
    chosen = candidates[0]
    note = None
    if len(candidates) > 1:
        others = ", ".join(o.name for o in candidates[1:])
        note = (
            f"picked output {chosen.name!r} as class scores (also possible: {others}; use --output)"
        )
    return OutputSpec(name=chosen.name, zipmap=chosen in zipmaps, note=note)


def zipmap_to_array(rows: list[dict[Any, float]]) -> np.ndarray:
    """``[{0: p0, 1: p1, ...}, ...]`` → ``[N, C]`` ordered by class key."""
    if not rows:
        return np.zeros((0, 0))
    keys = sorted(rows[0])
    return np.array([[row[k] for k in keys] for row in rows], dtype=np.float64)


Dim = int | str | None
"""A declared dimension: a size, a symbol (``"batch"``) or unknown."""


def declared_shape(value: onnx.ValueInfoProto) -> tuple[Dim, ...] | None:
    """The declared shape of a graph input; ``None`` when it declares none."""
    tensor = value.type.tensor_type
    if not value.type.HasField("tensor_type") or not tensor.HasField("shape"):
        return None
    return tuple(
        d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in tensor.shape.dim
    )


def shape_text(shape: Sequence[Dim]) -> str:
    return "[" + ", ".join("?" if d is None else str(d) for d in shape) + "]"


def check_side_inputs_batched(
    model: onnx.ModelProto, attacked: str, side: Sequence[str], where: str
) -> None:
    """Refuse a side input whose declared shape shows it is not batched on axis 0 (a recurrent
    state ``[layers, batch, hidden]``, a scalar, a fixed table): robustcheck feeds each of them
    one row per sample, stacked on axis 0 like the attacked input."""
    shapes = {v.name: declared_shape(v) for v in model.graph.input}
    batch = (shapes.get(attacked) or (None,))[0]
    for name in side:
        shape = shapes.get(name)
        why = None if shape is None else _not_batched(shape, batch)
        if why is not None:
            raise UnsupportedModelError(
                f"{where}: input {name!r} is declared {shape_text(shape or ())}: {why}, but "
                f"robustcheck feeds the inputs besides the attacked {attacked!r} (declared "
                f"{shape_text(shapes.get(attacked) or ())}) one row per sample, on axis 0",
                hint="export the model with that input batched on axis 0, or make a fixed value "
                "an initializer of the graph",
            )


def _not_batched(shape: Sequence[Dim], batch: Dim) -> str | None:
    """Why a side input of ``shape`` is not batched on axis 0 like an input whose axis 0 is
    ``batch``; None when it may be."""
    if not shape:
        return "a scalar has no batch axis"
    first = shape[0]
    elsewhere = (
        f" (the batch {batch!r} is its axis {list(shape).index(batch)})"
        if isinstance(batch, str) and batch in shape[1:]
        else ""
    )
    if isinstance(first, int) and first != batch:
        return f"its axis 0 is fixed at {first}{elsewhere}"
    if isinstance(first, str) and elsewhere:
        return f"its axis 0 is {first!r}{elsewhere}"
    return None
