"""Built-in operator families; :func:`default_registry` registers every one of them."""

from __future__ import annotations

from robustcheck.backends.onnx.twin.ops import (
    activation,
    arithmetic,
    conv,
    create,
    index,
    linalg,
    logic,
    ml,
    norm,
    ordering,
    pad,
    pool,
    reduce,
    resize,
    shape,
)
from robustcheck.backends.onnx.twin.registry import OpRegistry


def default_registry() -> OpRegistry:
    """A fresh registry holding every built-in operator (callers may add their own)."""
    registry = OpRegistry()
    conv.register(registry)
    pool.register(registry)
    norm.register(registry)
    activation.register(registry)
    arithmetic.register(registry)
    logic.register(registry)
    linalg.register(registry)
    reduce.register(registry)
    ordering.register(registry)
    shape.register(registry)
    index.register(registry)
    create.register(registry)
    pad.register(registry)
    resize.register(registry)
    ml.register(registry)
    return registry
