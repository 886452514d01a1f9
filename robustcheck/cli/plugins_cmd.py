"""``robustcheck plugins``: what is installed: attacks, data loaders and report formats (built-in
and plugins), gradient-twin ops."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from robustcheck.cli._options import debug_option
from robustcheck.cli._terminal import out

if TYPE_CHECKING:
    from robustcheck.registry import PluginStatus


@click.command(name="plugins")
@debug_option
def plugins_command() -> int:
    """List attacks, data loaders and report formats (built-in and from plugins) and the ONNX
    twin's operator count.

    A plugin that fails to load is listed with its error and exits 3.
    """
    from robustcheck.backends.onnx.twin import default_registry
    from robustcheck.data.builtin import builtin_registry
    from robustcheck.plugins import attack_registry, data_registry
    from robustcheck.reports.builtin import reporter_registry

    attacks, attack_statuses = attack_registry()
    lines = ["attacks (name, origin, budget unit, description):"]
    origin = {s.name: s for s in attack_statuses if not s.error}
    for name in attacks:
        cls = attacks.get(name)
        lines.append(
            f"  {name:<10} {_origin(origin.get(name)):<8} {cls.budget_unit:<6} {cls.description}"
        )
    broken_attacks = [s for s in attack_statuses if s.error]
    lines += [f"  {s.name:<10} BROKEN   {s.value}: {s.error}" for s in broken_attacks]
    builtin = set(builtin_registry().names())
    registry, statuses = data_registry()
    lines.append("data loaders:")
    for spec in registry.specs():
        where = "built-in" if spec.name in builtin else "plugin"
        claims = ", ".join(spec.suffixes) or ("directories" if spec.directory else "-")
        lines.append(f"  {spec.name:<8} {where:<8} {claims:<14} {spec.description}")
    lines += [f"  {s.name:<8} BROKEN   {s.value}: {s.error}" for s in statuses if s.error]
    reporters, reporter_statuses = reporter_registry()
    lines.append("report formats:")
    for name in reporters:
        reporter = reporters.get(name)
        where = _origin(
            next((s for s in reporter_statuses if s.name == name and not s.error), None)
        )
        lines.append(f"  {name:<10} {where:<8} {reporter.suffix:<6} {reporter.description}")
    broken_reporters = [s for s in reporter_statuses if s.error]
    lines += [f"  {s.name:<10} BROKEN   {s.value}: {s.error}" for s in broken_reporters]
    broken = [s for s in statuses if s.error] + broken_attacks + broken_reporters
    ops = default_registry()
    lines.append(f"onnx gradient twin: {len(ops.op_types())} operators (docs/onnx-ops.md)")
    out("\n".join(lines) + "\n")
    return 3 if broken else 0


def _origin(status: PluginStatus | None) -> str:
    """Built-in (registered by robustcheck, with or without its installed metadata) or plugin."""
    if status is None or status.builtin:
        return "built-in"
    return "plugin (replaces built-in)" if status.replaces_builtin else "plugin"
