"""``robustcheck config show``: the effective scan settings and where each came from."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from pydantic import BaseModel

from robustcheck.cli._options import debug_option
from robustcheck.cli._project import effective, setting_key
from robustcheck.cli._terminal import out
from robustcheck.cli.scan import scan
from robustcheck.settings import ScanSettings, flags

if TYPE_CHECKING:
    from robustcheck.cli.config_file import ProjectConfig


@click.group("config")
def config_group() -> None:
    """Project configuration: robustcheck.yaml, or [tool.robustcheck] in pyproject.toml."""


@config_group.command(
    "show",
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
)
@click.argument("scan_args", nargs=-1, type=click.UNPROCESSED, metavar="[SCAN ARGS]...")
@debug_option
def show(fmt: str, scan_args: tuple[str, ...]) -> int:
    """Print the settings `robustcheck scan [SCAN ARGS]` would use, and the source of each:
    the command line, the configuration file (with its line), or the default.

    \b
    Example:
      robustcheck config show -- model.onnx --eps 0.1
    """
    parent = click.get_current_context()
    try:
        config, rows = effective_rows(scan, ScanSettings, list(scan_args), parent)
    except click.UsageError as exc:
        exc.ctx = None  # the hint would name a command path no one can type
        raise
    if fmt == "json":
        document = {
            "config": config.source if config else None,
            "settings": {key: {"value": value, "source": src} for key, value, src in rows},
        }
        out(json.dumps(document, indent=2) + "\n")
        return 0
    source = config.source if config else "none found"
    lines = [f"configuration: {source}"]
    width = max(len(key) for key, _, _ in rows)
    shown = [_text(value) for _, value, _ in rows]
    value_width = min(40, max(len(text) for text in shown))
    for (key, _, src), text in zip(rows, shown, strict=True):
        lines.append(f"{key:<{width}}  {text:<{value_width}}  {src}")
    out("\n".join(lines) + "\n")
    return 0


def effective_rows(
    command: click.Command,
    model: type[BaseModel],
    args: list[str],
    parent: click.Context | None = None,
) -> tuple[ProjectConfig | None, list[tuple[str, Any, str]]]:
    """``(configuration file, [(key, value, source), ...])`` for ``command`` run with ``args``:
    every setting of ``model``, the command line over the configuration over the default."""
    with command.make_context(command.name, args, parent=parent) as ctx:
        settings = effective(ctx, model)
    keys = {str(p.name): setting_key(p) for p in command.params if p.name in settings.values}
    declared = flags(model)
    rows = [  # a switch like no-noise shows whether it is on, as a file would write it
        (keys[name], _plain(not value if declared[name].negate else value), settings.sources[name])
        for name, value in settings.values.items()
    ]
    return settings.config, rows


def _plain(value: Any) -> Any:
    """JSON-ready: paths as strings, tuples as lists."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (tuple, list)):
        return [_plain(item) for item in value]
    return value


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return " ".join(str(item) for item in value) if value else "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)
