"""Plugins: separately installed packages that add data loaders through entry points.

A plugin package declares, in its ``pyproject.toml``::

    [project.entry-points."robustcheck.data_loaders"]
    jsonl = "robustcheck_plugin_jsonl:LOADER"

where ``LOADER`` is a :class:`robustcheck.data.registry.LoaderSpec`. Each plugin is loaded on its
own (after sqlfluff's plugin host): one that fails to import or to register is named in a warning
and skipped, and never takes the built-ins down with it. Built-ins are registered the same way,
explicitly, in :func:`robustcheck.data.registry.builtin_registry`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from importlib import metadata

from robustcheck.data.registry import LoaderRegistry, LoaderSpec, builtin_registry

DATA_LOADERS = "robustcheck.data_loaders"


@dataclass(frozen=True)
class PluginStatus:
    name: str
    value: str
    distribution: str | None
    error: str | None = None


def register_plugins(
    registry: LoaderRegistry, entry_points: Iterable[metadata.EntryPoint] | None = None
) -> list[PluginStatus]:
    """Register every data-loader plugin that loads and validates; report each one's status."""
    if entry_points is None:
        entry_points = metadata.entry_points(group=DATA_LOADERS)
    statuses = []
    for ep in sorted(entry_points, key=lambda e: e.name):
        dist = ep.dist.name if ep.dist is not None else None
        try:
            spec = ep.load()
            if not isinstance(spec, LoaderSpec):
                raise TypeError(f"{ep.value} is a {type(spec).__name__}, not a LoaderSpec")
            registry.register(spec)
        except Exception as exc:  # a broken plugin is reported, never fatal
            statuses.append(PluginStatus(ep.name, ep.value, dist, f"{type(exc).__name__}: {exc}"))
            continue
        statuses.append(PluginStatus(ep.name, ep.value, dist))
    return statuses


def data_registry() -> tuple[LoaderRegistry, list[PluginStatus]]:
    """Built-in loaders plus installed plugins."""
    registry = builtin_registry()
    return registry, register_plugins(registry)
