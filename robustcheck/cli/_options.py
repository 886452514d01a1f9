"""Options shared between commands (after sqlfluff's ``common_options``)."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, TypeVar

import click

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
