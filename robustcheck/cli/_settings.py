"""Click options derived from a settings model (robustcheck.settings): each field becomes one
option (or the positional argument) with its type, range, choices, default and help, so a flag
and its setting cannot drift apart.

The field's annotation decides the click type (``int`` with bounds → ``IntRange``, ``float`` →
a finite ``FloatRange``, ``Literal`` → ``Choice``, ``Path`` → ``click.Path``, ``bool`` → a switch,
``list[T]`` → a repeatable option, ``tuple[A, B]`` → two values); the field's :class:`Flag` says
the rest (names, metavar, how a path or a list is read).
"""

from __future__ import annotations

import math
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, TypeVar

import annotated_types
import click
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from robustcheck.cli._options import BatchSize, FiniteFloat, LazyHelpOption
from robustcheck.settings import Flag, flag_of

F = TypeVar("F", bound=Callable[..., Any])


class CsvFloats(click.ParamType):
    """Comma-separated finite numbers (``0.485,0.456,0.406``) → a list of floats."""

    name = "numbers"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, list):
            return value
        try:
            numbers = [float(part) for part in str(value).split(",")]
        except ValueError:
            numbers = []
        if not numbers or not all(math.isfinite(n) for n in numbers):
            self.fail(f"expected comma-separated finite numbers, got {value!r}", param, ctx)
        return numbers


def settings_options(
    model: type[BaseModel], *, skip: tuple[str, ...] = (), only: tuple[str, ...] | None = None
) -> Callable[[F], F]:
    """A decorator adding every field of ``model`` (or ``only`` those named) as a click
    parameter, in declaration order."""

    own = set(model.__annotations__)  # the command's own settings first, shared ones after
    ordered = sorted(model.model_fields.items(), key=lambda item: item[0] not in own)

    def decorate(fn: F) -> F:
        for name, info in reversed(ordered):
            if name not in skip and (only is None or name in only):
                params = getattr(fn, "__click_params__", [])
                params.append(parameter(name, info))
                fn.__click_params__ = params  # type: ignore[attr-defined]
        return fn

    return decorate


def parameter(name: str, info: FieldInfo) -> click.Parameter:
    """The click argument or option of one settings field."""
    flag = flag_of(info)
    annotation, optional = _unwrap(info.annotation)
    required = info.is_required()
    default = None if required else info.get_default(call_default_factory=True)
    if flag.argument:
        return click.Argument(
            [name], type=_scalar_type(annotation, info, flag), required=required and not optional
        )
    kwargs: dict[str, Any] = {"required": required}
    if annotation is bool:
        kwargs["is_flag"] = True
        if flag.negate:
            kwargs["flag_value"], kwargs["default"] = False, True
        elif flag.secondary is not None:
            kwargs["default"] = default
        else:
            kwargs["default"] = bool(default)
    else:
        container = typing.get_origin(annotation)
        if flag.kind == "csv-floats":  # one option holding the whole list: --mean 0.5,0.5,0.5
            kwargs["type"], kwargs["default"] = CsvFloats(), default
        elif container is list:
            (element,) = typing.get_args(annotation)
            kwargs["multiple"] = True
            kwargs["type"] = _scalar_type(element, _element_info(element), flag)
            kwargs["default"] = ()
        elif container is tuple:
            kwargs["type"] = tuple(
                _scalar_type(a, _element_info(a), flag) for a in typing.get_args(annotation)
            )
            kwargs["default"] = default
        else:
            kwargs["type"] = _scalar_type(annotation, info, flag)
            kwargs["default"] = default
            if flag.bare is not None:  # --mlflow alone, or --mlflow=required
                kwargs["is_flag"], kwargs["flag_value"] = False, flag.bare
    if flag.metavar:
        kwargs["metavar"] = flag.metavar
    kwargs["show_default"] = _show_default(flag, default)
    names = list(flag.option_names(name))
    if flag.secondary is not None:
        names = [f"{names[-1]}/{flag.secondary}"]
    help_text = info.description or ""
    if flag.listing is not None:
        group = flag.listing
        return LazyHelpOption(
            [*names, name], help_text=lambda: help_text.replace("{listing}", _listing(group)),
            **kwargs,
        )  # fmt: skip
    return click.Option([*names, name], help=help_text or None, **kwargs)


def _listing(group: str) -> str:
    from robustcheck.registry import builtin_names
    from robustcheck.vocabulary import NOISE_BASELINE

    names = [n for n in builtin_names(group) if n != NOISE_BASELINE]
    listed = f"Built-ins: {', '.join(names)}" if names else "Built-ins: see robustcheck plugins"
    return f"{listed} (plus plugins: robustcheck plugins)."


def _show_default(flag: Flag, default: Any) -> bool | str:
    return False if flag.show_default is None else flag.show_default


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """``X | None`` → ``(X, True)``; ``Annotated[X, ...]`` → ``X``."""
    if typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        literal = [a for a in args if typing.get_origin(a) is Literal]
        if len(args) == 1:
            return args[0], True
        if literal and len(args) == 2:  # int | Literal["auto"]: the flag's kind reads it
            return args, True
    return annotation, False


def _element_info(annotation: Any) -> FieldInfo:
    """The constraints of ``Annotated[T, Field(...)]`` (a list's or a tuple's element)."""
    if typing.get_origin(annotation) is typing.Annotated:
        base, *metadata = typing.get_args(annotation)
        return FieldInfo.merge_field_infos(
            *[m for m in metadata if isinstance(m, FieldInfo)], annotation=base
        )
    return FieldInfo(annotation=annotation)


def _bounds(info: FieldInfo) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for item in info.metadata:
        if isinstance(item, annotated_types.Ge):
            found["min"] = item.ge
        elif isinstance(item, annotated_types.Gt):
            found["min"], found["min_open"] = item.gt, True
        elif isinstance(item, annotated_types.Le):
            found["max"] = item.le
        elif isinstance(item, annotated_types.Lt):
            found["max"], found["max_open"] = item.lt, True
    return found


def _scalar_type(annotation: Any, info: FieldInfo, flag: Flag) -> Any:
    if flag.kind == "batch-size":
        return BatchSize()
    if flag.kind == "csv-floats":
        return CsvFloats()
    annotation, _ = _unwrap(annotation)
    if typing.get_origin(annotation) is typing.Annotated:
        info = _element_info(annotation)
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) is Literal:
        return click.Choice([str(v) for v in typing.get_args(annotation)])
    if annotation is Path:
        return click.Path(
            path_type=Path,
            dir_okay=flag.kind != "file",  # a report target that is a folder: exit 5 later
            allow_dash=flag.kind == "report",
        )
    if annotation is int:
        bounds = _bounds(info)
        return click.IntRange(**bounds) if bounds else int
    if annotation is float:
        return FiniteFloat(**_bounds(info))
    return str
