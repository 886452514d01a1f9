"""The data loaders that ship with robustcheck: each module declares its own (``@loader``)."""

from __future__ import annotations

from robustcheck.data import images, npy, npz, tabular, text, tokens
from robustcheck.data.registry import BUILTIN, LoaderRegistry

MODULES = (npz, npy, tabular, tokens, text, images)
"""Imported for their declarations."""


def builtin_registry() -> LoaderRegistry:
    """A fresh registry holding the loaders that ship with robustcheck."""
    registry = LoaderRegistry()
    for spec in BUILTIN:
        registry.register(spec)
    return registry
