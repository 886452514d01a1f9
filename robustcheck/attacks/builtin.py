"""Every built-in attack, and the registry a scan uses: the built-ins plus installed plugins."""

from __future__ import annotations

from collections.abc import Iterable
from importlib import metadata

from robustcheck.attacks import apgd, ensemble, estimated, gradient, hotflip, noise, square
from robustcheck.attacks.base import Attack
from robustcheck.attacks.registry import ATTACKS
from robustcheck.registry import PluginStatus, Registry

BUILTIN_MODULES = (gradient, apgd, estimated, square, hotflip, noise, ensemble)
"""Imported for their registrations (each attack class registers itself)."""


def attack_registry(
    entry_points: Iterable[metadata.EntryPoint] | None = None,
) -> tuple[Registry[type[Attack]], list[PluginStatus]]:
    """Built-in attacks plus installed plugins; a plugin may replace a built-in by name."""
    return ATTACKS.with_plugins(entry_points)
