"""Merging the project configuration into a command's parsed flags.

A flag given on the command line wins; otherwise a setting of the project configuration; otherwise
the flag's default. Each setting is converted and checked by the very click type of its flag, so
``eps: abc`` in ``robustcheck.yaml`` is refused exactly as ``--eps abc`` is, with the file and line.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from click.core import ParameterSource
from pydantic import BaseModel

from robustcheck.errors import UsageError
from robustcheck.files import is_stdout
from robustcheck.settings import Flag, flags
from robustcheck.settings.reports import parse_report_option

if TYPE_CHECKING:
    from robustcheck.cli.config_file import ProjectConfig

NOT_SETTINGS = frozenset({"config", "no_config", "debug"})
"""Parameters that only make sense on the command line (they are not settings)."""

COMMAND_LINE = "command line"
DEFAULT = "default"


@dataclass(frozen=True)
class Effective:
    values: dict[str, Any]
    """Parameter name → value."""
    sources: dict[str, str]
    """Parameter name → ``command line``, the configuration's ``where()``, or ``default``."""
    config: ProjectConfig | None


def setting_key(param: click.Parameter) -> str:
    """The key of a parameter in a configuration file: its long flag without dashes."""
    if isinstance(param, click.Argument):
        return str(param.name)
    longs = [opt for opt in param.opts if opt.startswith("--")]
    return longs[0][2:] if longs else str(param.name)


def effective(ctx: click.Context, model: type[BaseModel]) -> Effective:
    """The parameters of ``ctx`` with the project configuration applied; ``model`` is the
    settings model the command's options were derived from (robustcheck.cli._settings)."""
    from robustcheck.cli.config_file import find_project_config

    params = ctx.params
    if params.get("no_config") and params.get("config") is not None:
        raise UsageError("--config and --no-config are exclusive")
    config = None
    if not params.get("no_config"):
        config = find_project_config(Path(), params.get("config"))
    by_key = {setting_key(p): p for p in ctx.command.params if p.name not in NOT_SETTINGS}
    declared = flags(model)
    configured: dict[str, Any] = {}
    if config is not None:  # every setting is checked, also those a flag overrides
        _check_keys(config, by_key, declared)
        configured = {
            key: _convert(ctx, by_key[key], declared[str(by_key[key].name)], config, key)
            for key in config.settings
        }
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for key, param in by_key.items():
        name = str(param.name)
        given = ctx.get_parameter_source(name) not in (ParameterSource.DEFAULT, None)
        if config is None or given or key not in configured:
            values[name] = params.get(name)
            sources[name] = COMMAND_LINE if given else DEFAULT
        else:
            values[name] = configured[key]
            sources[name] = config.where(key)
    return Effective(values, sources, config)


def _check_keys(
    config: ProjectConfig, by_key: dict[str, click.Parameter], declared: dict[str, Flag]
) -> None:
    for key in config.settings:
        param = by_key.get(key)
        if param is not None and not declared[str(param.name)].file:
            raise UsageError(
                f"{config.where(key)}: {key} weakens the gate; it is accepted on the command line only",
                hint=f"pass --{key} in the CI job instead",
            )
        if key not in by_key:
            close = difflib.get_close_matches(key, list(by_key), n=1)
            hint = f"did you mean {close[0]!r}?" if close else "settings are the scan's long flags"
            raise UsageError(f"{config.where(key)}: unknown setting {key[:80]!r}", hint=hint)


def _convert(
    ctx: click.Context, param: click.Parameter, flag: Flag, config: ProjectConfig, key: str
) -> Any:
    """A setting converted exactly as its flag's text would be: scalars become the text a user
    would have typed, so ``batch-size: 1.5`` or ``max-error-rate: true`` fail as on the command line."""
    where = f"{config.where(key)}: {key}"
    raw = config.settings[key]
    if isinstance(param, click.Option) and param.is_flag:
        if not isinstance(raw, bool):
            raise UsageError(f"{where}: expected true or false")
        return not raw if flag.negate else raw  # `no-noise: true` is the flag given
    if flag.kind == "csv-floats" and isinstance(raw, list):
        raw = ",".join(_text(item, where) for item in raw)
    many = param.multiple or param.nargs > 1
    if param.multiple and not isinstance(raw, list):
        raw = [raw]
    if isinstance(raw, list) and not many:
        raise UsageError(f"{where}: expected a single value, not a list")
    text = [_text(item, where) for item in raw] if isinstance(raw, list) else _text(raw, where)
    try:
        value = param.type_cast_value(ctx, text)
    except click.BadParameter as exc:
        raise UsageError(f"{where}: {exc.message}") from None
    return _relative_to(config.directory, param, flag, value)


def _text(value: Any, where: str) -> str:
    """A scalar setting as command-line text; anything else is refused."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        kind = "null" if value is None else type(value).__name__
        raise UsageError(f"{where}: expected a number or a string, not {kind}")
    return value if isinstance(value, str) else repr(value)


def _relative_to(directory: Path, param: click.Parameter, flag: Flag, value: Any) -> Any:
    """Resolve relative paths of a setting against the configuration file's folder."""
    if value is None:
        return None
    if isinstance(param.type, click.Path):
        if isinstance(value, (tuple, list)):
            return type(value)(v if Path(v).is_absolute() else directory / v for v in value)
        return directory / value if not Path(value).is_absolute() else value
    if flag.kind == "policy" and not str(value).startswith("builtin:"):
        return str(directory / value)
    if flag.kind == "report-spec":
        return type(value)(_report_relative_to(directory, spec) for spec in value)
    return value


def _report_relative_to(directory: Path, spec: str) -> str:
    """``FORMAT=PATH`` with a relative PATH resolved (``-`` stays standard output); a malformed
    one is left for the setting's validation to refuse."""
    try:
        name, path = parse_report_option(spec)
    except ValueError:
        return spec
    if is_stdout(Path(path)) or Path(path).is_absolute():
        return spec
    return f"{name}={directory / path}"
