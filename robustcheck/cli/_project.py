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

from robustcheck.errors import UsageError

if TYPE_CHECKING:
    from robustcheck.cli.config_file import ProjectConfig

NOT_SETTINGS = frozenset({"config", "no_config", "debug"})
"""Parameters that only make sense on the command line."""
COMMAND_LINE_ONLY = frozenset(
    {
        "exit_zero",
        "allow_low_fidelity",
        "allow_low_accuracy",
        "no_isolation",
        "allow_external_data",
        "shard",
    }
)
"""Switches that weaken the gate or the sandbox (``--shard`` exits 0 with no verdict). A file in the repository under review must not
turn them on for the job that judges it, so they are accepted on the command line only."""
_CSV_LISTS = frozenset({"mean", "std"})
"""String flags holding comma-separated numbers, which a file may write as a list."""
_PATH_STRINGS = frozenset({"policy_ref"})
"""String flags naming a file (unless ``builtin:``), resolved against the configuration's folder."""

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
    longs = [opt for opt in param.opts if opt.startswith("--")]
    return longs[0][2:] if longs else str(param.name)


def effective(ctx: click.Context) -> Effective:
    """The parameters of ``ctx`` with the project configuration applied."""
    from robustcheck.cli.config_file import find_project_config

    params = ctx.params
    if params.get("no_config") and params.get("config") is not None:
        raise UsageError("--config and --no-config are exclusive")
    config = None
    if not params.get("no_config"):
        config = find_project_config(Path(), params.get("config"))
    by_key = {setting_key(p): p for p in ctx.command.params if p.name not in NOT_SETTINGS}
    configured: dict[str, Any] = {}
    if config is not None:  # every setting is checked, also those a flag overrides
        _check_keys(config, by_key)
        configured = {key: _convert(ctx, by_key[key], config, key) for key in config.settings}
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


def _check_keys(config: ProjectConfig, by_key: dict[str, click.Parameter]) -> None:
    for key in config.settings:
        param = by_key.get(key)
        if param is not None and param.name in COMMAND_LINE_ONLY:
            raise UsageError(
                f"{config.where(key)}: {key} weakens the gate; it is accepted on the command line only",
                hint=f"pass --{key} in the CI job instead",
            )
        if key not in by_key:
            close = difflib.get_close_matches(key, list(by_key), n=1)
            hint = f"did you mean {close[0]!r}?" if close else "settings are the scan's long flags"
            raise UsageError(f"{config.where(key)}: unknown setting {key[:80]!r}", hint=hint)


def _convert(ctx: click.Context, param: click.Parameter, config: ProjectConfig, key: str) -> Any:
    """A setting converted exactly as its flag's text would be: scalars become the text a user
    would have typed, so ``batch-size: 1.5`` or ``max-error-rate: true`` fail as on the command line."""
    where = f"{config.where(key)}: {key}"
    raw = config.settings[key]
    if isinstance(param, click.Option) and param.is_flag:
        if not isinstance(raw, bool):
            raise UsageError(f"{where}: expected true or false")
        return raw
    if str(param.name) in _CSV_LISTS and isinstance(raw, list):
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
    return _relative_to(config.directory, param, value)


def _text(value: Any, where: str) -> str:
    """A scalar setting as command-line text; anything else is refused."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        kind = "null" if value is None else type(value).__name__
        raise UsageError(f"{where}: expected a number or a string, not {kind}")
    return value if isinstance(value, str) else repr(value)


def _relative_to(directory: Path, param: click.Parameter, value: Any) -> Any:
    """Resolve relative paths of a setting against the configuration file's folder."""
    if value is None:
        return None
    if isinstance(param.type, click.Path):
        return directory / value if not Path(value).is_absolute() else value
    if param.name in _PATH_STRINGS and not str(value).startswith("builtin:"):
        return str(directory / value)
    return value
