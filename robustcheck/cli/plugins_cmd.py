"""``robustcheck plugins``: what is installed: attacks and data loaders (built-in and plugins),
gradient-twin ops."""

from __future__ import annotations

import click

from robustcheck.cli._options import debug_option
from robustcheck.cli._terminal import out


@click.command(name="plugins")
@debug_option
def plugins_command() -> int:
    """List attacks and data loaders (built-in and from plugins) and the ONNX twin's operator count.

    A plugin that fails to load is listed with its error and exits 3.
    """
    from robustcheck.backends.onnx.twin import default_registry
    from robustcheck.data.builtin import builtin_registry
    from robustcheck.plugins import attack_registry, data_registry

    attacks, attack_statuses = attack_registry()
    lines = ["attacks (name, origin, budget unit, description):"]
    origin = {s.name: s for s in attack_statuses if not s.error}
    for name in attacks:
        cls = attacks.get(name)
        status = origin.get(name)
        where = "plugin" if status is not None and not status.builtin else "built-in"
        if status is not None and status.replaces_builtin:
            where = "plugin (replaces built-in)"
        lines.append(f"  {name:<10} {where:<8} {cls.budget_unit:<6} {cls.description}")
    broken_attacks = [s for s in attack_statuses if s.error]
    lines += [f"  {s.name:<10} BROKEN   {s.value}: {s.error}" for s in broken_attacks]
    builtin = set(builtin_registry().names())
    registry, statuses = data_registry()
    lines.append("data loaders:")
    for spec in registry.specs():
        where = "built-in" if spec.name in builtin else "plugin"
        claims = ", ".join(spec.suffixes) or ("directories" if spec.directory else "-")
        lines.append(f"  {spec.name:<8} {where:<8} {claims:<14} {spec.description}")
    broken = [s for s in statuses if s.error] + broken_attacks
    lines += [f"  {s.name:<8} BROKEN   {s.value}: {s.error}" for s in statuses if s.error]
    ops = default_registry()
    lines.append(f"onnx gradient twin: {len(ops.op_types())} operators (docs/onnx-ops.md)")
    out("\n".join(lines) + "\n")
    return 3 if broken else 0
