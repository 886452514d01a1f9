"""Every built-in report format, and the registry a command uses: the built-ins plus installed
plugins."""

from __future__ import annotations

from collections.abc import Iterable
from importlib import metadata

from robustcheck.registry import PluginStatus, Registry
from robustcheck.reports import html, json_report, junit, markdown
from robustcheck.reports.registry import REPORTERS, Reporter

BUILTIN_MODULES = (json_report, junit, markdown, html)
"""Imported for their registrations (each format's class registers itself)."""


def reporter_registry(
    entry_points: Iterable[metadata.EntryPoint] | None = None,
) -> tuple[Registry[type[Reporter]], list[PluginStatus]]:
    """Built-in formats plus installed plugins; a plugin may replace a built-in by name."""
    return REPORTERS.with_plugins(entry_points)
