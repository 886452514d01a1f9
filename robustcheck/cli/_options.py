"""Options shared between commands (after sqlfluff's ``common_options``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def debug_option(fn: F) -> F:
    return click.option(
        "--debug", is_flag=True, expose_value=False, help="Show tracebacks on errors."
    )(fn)
