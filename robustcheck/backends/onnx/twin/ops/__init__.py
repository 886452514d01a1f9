"""Built-in operator families, each implementation declared beside its definition
(``@op("Conv", 1)``); :func:`default_registry` builds a fresh registry from all of them."""

from __future__ import annotations

import importlib

from robustcheck.backends.onnx.twin.registry import DECLARED, OpRegistry, registry_of

FAMILIES = (
    "activation",
    "arithmetic",
    "bitwise",
    "contrib",
    "control",
    "conv",
    "create",
    "index",
    "linalg",
    "logic",
    "ml",
    "norm",
    "ordering",
    "pad",
    "pool",
    "qlinear",
    "qlinear_contrib",
    "quantize",
    "recurrent",
    "reduce",
    "resize",
    "sampling",
    "shape",
)
"""The modules of this package, imported here for their declarations."""
for _family in FAMILIES:
    importlib.import_module(f"{__name__}.{_family}")


def default_registry() -> OpRegistry:
    """A fresh registry holding every built-in operator (callers may add their own); a
    duplicate declaration raises here."""
    return registry_of(DECLARED)
