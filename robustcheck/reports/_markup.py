"""Autoescaping HTML construction: text is escaped unless it is already :class:`Markup`.

The HTML renderer builds every element with :func:`el` and fills its page with :func:`fill`, so
a user-controlled string can only reach the page escaped (the jinja2 ``autoescape`` contract
without the dependency).
"""

from __future__ import annotations

from collections.abc import Iterable
from string import Template

from robustcheck.reports._escape import html_text


class Markup(str):
    """A string that is already safe HTML."""

    __slots__ = ()


def escape(value: object) -> Markup:
    return value if isinstance(value, Markup) else Markup(html_text(value))


def concat(parts: Iterable[object]) -> Markup:
    return Markup("".join(escape(part) for part in parts))


def _attrs(attrs: dict[str, object]) -> str:
    # Python names stand for HTML ones: ``class_`` → ``class``, ``stroke_width`` → ``stroke-width``.
    return "".join(
        f' {name.rstrip("_").replace("_", "-")}="{escape(value)}"'
        for name, value in attrs.items()
        if value is not None
    )


def lines(parts: Iterable[object]) -> Markup:
    """Like :func:`concat`, one part per line, empty strings left out (keeps diffs readable)."""
    return Markup("\n".join(escape(part) for part in parts if part != ""))


def el(tag: str, *children: object, **attrs: object) -> Markup:
    """``<tag attrs>children</tag>``; attributes whose value is ``None`` are left out."""
    return Markup(f"<{tag}{_attrs(attrs)}>{concat(children)}</{tag}>")


def void(tag: str, **attrs: object) -> Markup:
    """An element without content or end tag (``img``, ``meta``)."""
    return Markup(f"<{tag}{_attrs(attrs)}>")


def fill(template: Template, **values: object) -> Markup:
    """``template`` with every value escaped unless it is :class:`Markup`."""
    return Markup(template.substitute({key: escape(value) for key, value in values.items()}))
