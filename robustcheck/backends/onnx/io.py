"""Which graph input to perturb and which output holds the class scores."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from robustcheck.errors import ModelError, UnsupportedModelError

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


def choose_input(session: object, where: str) -> InputSpec:
    inputs = session.get_inputs()  # type: ignore[attr-defined]
    if len(inputs) != 1:
        names = ", ".join(i.name for i in inputs)
        raise UnsupportedModelError(
            f"{where}: the model has {len(inputs)} inputs ({names}); robustcheck scans single-input classifiers"
        )
    (spec,) = inputs
    if spec.type not in FLOAT_TYPES:
        raise UnsupportedModelError(
            f"{where}: input {spec.name!r} has type {spec.type}: integer or non-tensor inputs are not "
            "differentiable (a gradient-free mode is planned)"
        )
    return InputSpec(
        name=spec.name, shape=_dims(spec.shape), dtype=np.dtype(FLOAT_TYPES[spec.type])
    )


def choose_output(session: object, where: str, requested: str | None) -> OutputSpec:
    outputs = session.get_outputs()  # type: ignore[attr-defined]
    by_name = {o.name: o for o in outputs}
    if requested is not None:
        if requested not in by_name:
            raise ModelError(
                f"{where}: --output {requested!r} is not an output (have: {', '.join(by_name)})"
            )
        return OutputSpec(name=requested, zipmap=by_name[requested].type.startswith("seq(map"))
    scores = [o for o in outputs if o.type in FLOAT_TYPES and len(o.shape) >= 2]
    zipmaps = [o for o in outputs if o.type.startswith("seq(map(")]
    candidates = scores or zipmaps
    if not candidates:
        listing = ", ".join(f"{o.name}: {o.type}" for o in outputs)
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
