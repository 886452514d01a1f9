"""Plugins: separately installed packages that add data loaders, attacks or report formats through
entry points.

A plugin package declares, in its ``pyproject.toml``::

    [project.entry-points."robustcheck.data_loaders"]
    jsonl = "robustcheck_plugin_jsonl:LOADER"      # a robustcheck.data.registry.LoaderSpec

    [project.entry-points."robustcheck.attacks"]
    overshoot = "robustcheck_plugin_attack:Overshoot"   # a robustcheck.attacks.Attack subclass

    [project.entry-points."robustcheck.reporters"]
    csvsummary = "my_package:CsvSummary"    # a robustcheck.reports.registry.Reporter subclass

Built-in attacks and report formats are declared in the same groups by robustcheck itself (and
registered explicitly too, so a source tree without installed metadata still has them). Report
formats are loaded by :func:`robustcheck.reports.builtin.reporter_registry` (the scan engine,
which imports this module, never needs them).
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib import metadata

from robustcheck.attacks.builtin import attack_registry
from robustcheck.data.builtin import builtin_registry
from robustcheck.data.registry import LoaderRegistry, LoaderSpec
from robustcheck.registry import ATTACKS, DATA_LOADERS, PluginStatus, load_plugins

__all__ = ["ATTACKS", "DATA_LOADERS", "PluginStatus", "attack_registry", "data_registry"]


def register_plugins(
    registry: LoaderRegistry, entry_points: Iterable[metadata.EntryPoint] | None = None
) -> list[PluginStatus]:
    """Register every data-loader plugin that loads and validates; report each one's status."""

    def register(name: str, spec: object, replaces: bool) -> None:
        if not isinstance(spec, LoaderSpec):
            raise TypeError(f"it is a {type(spec).__name__}, not a LoaderSpec")
        registry.register(spec)

    return load_plugins(DATA_LOADERS, register, set(), entry_points)


def data_registry() -> tuple[LoaderRegistry, list[PluginStatus]]:
    """Built-in loaders plus installed plugins."""
    registry = builtin_registry()
    return registry, register_plugins(registry)
