"""Options shared between commands (after sqlfluff's ``common_options``)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from pydantic import BaseModel

F = TypeVar("F", bound=Callable[..., Any])


def debug_option(fn: F) -> F:
    return click.option(
        "--debug", is_flag=True, expose_value=False, help="Show tracebacks on errors."
    )(fn)


class FiniteFloat(click.FloatRange):
    """A float option that refuses ``nan`` and ``inf`` (``float()`` and ``FloatRange`` accept them,
    and a NaN threshold compares false with everything, so it would never fail a gate)."""

    name = "finite float"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number


class BatchSize(click.ParamType):
    """A positive integer, or ``auto``: the largest batch the device holds (a fixed default on
    the CPU)."""

    name = "integer|auto"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and value.strip().lower() == "auto":
            return "auto"
        return click.IntRange(min=1).convert(value, param, ctx)

    def get_metavar(self, param: click.Parameter, ctx: click.Context | None = None) -> str:
        return "[N|auto]"


@contextmanager
def flag_errors(model: type[BaseModel] | None = None) -> Iterator[None]:
    """A value click accepted but the settings model refuses is a usage error naming its flag
    (the field's :class:`~robustcheck.settings.Flag` spelling)."""
    from pydantic import ValidationError

    from robustcheck.settings import flags

    declared = {} if model is None else flags(model)
    try:
        yield
    except ValidationError as exc:
        error = exc.errors()[0]
        field = str(error["loc"][0]) if error["loc"] else ""
        flag = declared[field].shown(field) if field in declared else "--" + field.replace("_", "-")
        message = str(error["msg"]).removeprefix("Value error, ")
        raise click.UsageError(f"{flag}: {message}") from None


class LazyHelpOption(click.Option):
    """An option whose help text is written only when help is shown (``help_text`` is called
    then): text that costs something to find out stays off every other invocation."""

    def __init__(self, *args: Any, help_text: Callable[[], str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._help_text = help_text

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        self.help = self._help_text()
        return super().get_help_record(ctx)
