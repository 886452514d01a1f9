"""Built-in operator families, each implementation declared beside its definition
(``@op("Conv", 1)``); :func:`default_registry` builds a fresh registry from all of them."""

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
from robustcheck.backends.onnx.twin.registry import DECLARED, OpRegistry, registry_of

FAMILIES = (
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
"""Imported for their declarations."""


def default_registry() -> OpRegistry:
    """A fresh registry holding every built-in operator (callers may add their own); a
    duplicate declaration raises here."""
    return registry_of(DECLARED)
