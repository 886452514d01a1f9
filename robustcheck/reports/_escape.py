"""Making user-controlled strings safe for each output format.

Model paths, class names, warnings and check messages come from files a pull request can change,
so every renderer passes them through one of these functions before they reach its output (the
HTML template escapes with jinja2's autoescaping, after :func:`xml_text`).
"""

from __future__ import annotations

import re

# Characters XML 1.0 forbids (and HTML treats as parse errors): C0 controls other than
# tab/newline/carriage return, DEL, lone surrogates and U+FFFE/U+FFFF. As in pytest's
# ``bin_xml_escape``, each becomes a visible ``#xNN`` so the reader sees that something was there.
_ILLEGAL = re.compile("[^\t\n\r\x20-\x7e\x80-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_WHITESPACE = re.compile(r"\s+")
# CI runners parse these prefixes from log lines (GitHub ``::cmd::``, Azure ``##vso[``).
_WORKFLOW_PREFIX = re.compile(r"^(\s*)(::|##\[|##vso\[)", re.MULTILINE)
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]{}|~#!])")


def _replace(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"#x{code:02X}" if code <= 0xFF else f"#x{code:04X}"


def xml_text(value: object) -> str:
    """``value`` as text with every XML-illegal character replaced by ``#xNN``."""
    return _ILLEGAL.sub(_replace, str(value))


def one_line(value: object) -> str:
    """XML-safe text with every run of whitespace (newlines included) collapsed to one space."""
    return _WHITESPACE.sub(" ", xml_text(value)).strip()


def markdown_text(value: object) -> str:
    """One line of Markdown that renders as the literal text, also inside a table cell.

    Markdown punctuation is backslash-escaped (``|`` would end a table cell, ``[`` start a link,
    a backtick a code span), ``<``/``>``/``&`` become entities so no HTML passes through, and a
    leading ``:`` is escaped so the text cannot start a CI workflow command.
    """
    text = _MARKDOWN_SPECIAL.sub(r"\\\1", one_line(value))
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return "\\" + text if text.startswith(":") else text


def guard_workflow_commands(text: str) -> str:
    """Indent any line that a CI runner would read as a workflow command."""
    return _WORKFLOW_PREFIX.sub(r"\1 \2", text)
