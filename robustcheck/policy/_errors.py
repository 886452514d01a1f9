"""Turning pydantic's ``ValidationError`` into located one-line messages.

``policy.yaml:7: budgets[1].eps: Input should be greater than 0``: file, line, the key path as
the user wrote it, and pydantic's message. Echoed keys are clipped so a hostile or huge file
cannot flood a CI log.
"""

from __future__ import annotations

import difflib
import re
import typing
from typing import Any

from pydantic import BaseModel, ValidationError

from robustcheck._yaml import Location
from robustcheck.policy.schema import Policy

MAX_SHOWN = 10
_CLIP = 60
_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def clip(text: str, limit: int = _CLIP) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def location_text(loc: Location) -> str:
    """``('budgets', 1, 'eps')`` -> ``budgets[1].eps``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _PLAIN_KEY.match(part):
            out += f".{clip(part)}" if out else clip(part)
        else:
            out += f"[{clip(repr(part))}]"
    return out


def validation_messages(
    exc: ValidationError, source: str, lines: dict[Location, int] | None
) -> list[str]:
    """One located line per distinct error, in file order."""
    located: list[tuple[int, str]] = []
    for error in exc.errors(include_url=False, include_input=False, include_context=False):
        loc = _user_location(tuple(error["loc"]), lines, missing=error["type"] == "missing")
        line = _line(loc, lines)
        where = f"{source}:{line}" if line is not None else source
        message = clip(error["msg"].removeprefix("Value error, "), 300)
        if error["type"] == "extra_forbidden" and loc and isinstance(loc[-1], str):
            message = _unknown_key(loc)
        text = f"{where}: {location_text(loc)}: {message}" if loc else f"{where}: {message}"
        if all(text != seen for _, seen in located):
            located.append((line or 0, text))
    return [text for _, text in sorted(located, key=lambda item: item[0])]


def _unknown_key(loc: Location) -> str:
    allowed = _keys_at(loc[:-1])
    if not allowed:
        return "unknown key"
    close = difflib.get_close_matches(str(loc[-1]), allowed, n=1, cutoff=0.8)
    if close:
        return f"unknown key (did you mean {close[0]!r}?)"
    return f"unknown key (allowed here: {', '.join(allowed)})"


def _keys_at(loc: Location) -> list[str]:
    """The keys the policy model accepts at ``loc`` (list indices skipped)."""
    model: type[BaseModel] | None = Policy
    for part in loc:
        if isinstance(part, int) or model is None:
            continue
        fields = {f.alias or name: f for name, f in model.model_fields.items()}
        field = fields.get(part)
        model = None if field is None else _model_in(field.annotation)
    if model is None:
        return []
    return [f.alias or name for name, f in model.model_fields.items()]


def _model_in(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def join(messages: list[str]) -> str:
    shown = messages[:MAX_SHOWN]
    more = len(messages) - len(shown)
    return "; ".join(shown) + (f"; and {more} more" if more > 0 else "")


def _user_location(loc: Location, lines: dict[Location, int] | None, *, missing: bool) -> Location:
    """Drop the parts of a pydantic location the file does not contain.

    ``max_adversarial_error_rate: .nan`` is validated as ``{limit: .nan}``, so pydantic reports
    ``...max_adversarial_error_rate.limit``; the user wrote no ``limit``. A missing key keeps
    its name: that is the point of the message.
    """
    if lines is None:
        return loc
    keep = len(loc)
    while keep > 0 and loc[:keep] not in lines:
        keep -= 1
    if missing and keep == len(loc) - 1:
        return loc
    return loc[:keep]


def _line(loc: Location, lines: dict[Location, int] | None) -> int | None:
    if lines is None:
        return None
    for end in range(len(loc), -1, -1):
        if loc[:end] in lines:
            return lines[loc[:end]]
    return None
