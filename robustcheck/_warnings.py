"""Warnings raised by dependencies (torch, onnx, ...), caught where robustcheck calls them.

Python prints a warning to the terminal as a multi-line message with a source path, or not at all,
depending on filters the user never chose. :func:`recorded_warnings` takes that decision away:
inside the block every warning is recorded, none is printed; the ones known to be irrelevant to
the user are dropped and the rest come back as one-line notes for the caller to report in its own
words.
"""

from __future__ import annotations

import logging
import os
import re
import sys
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class Irrelevant:
    """Warnings the user need not hear about: of one of ``categories``, with a message matching
    ``pattern`` (a regular expression searched for in the message)."""

    categories: tuple[type[Warning], ...]
    pattern: str

    def matches(self, message: warnings.WarningMessage) -> bool:
        return issubclass(message.category, self.categories) and bool(
            re.search(self.pattern, str(message.message))
        )


TORCHSCRIPT_DEPRECATED = Irrelevant(
    (DeprecationWarning, PendingDeprecationWarning, FutureWarning),
    r"torch\.jit\.\w+`? is deprecated",
)
"""torch 2.9+ deprecates TorchScript (``torch.jit.trace``, ``script``, ``save``, ``load``) in favour
of ``torch.export``: where robustcheck both writes and reads the TorchScript file (a surrogate),
that changes nothing for the user."""


DEPRECATED = Irrelevant((DeprecationWarning, PendingDeprecationWarning, FutureWarning), "")
"""Any deprecation, where a dependency warns about its own internals or formats inside a call
robustcheck makes on the user's behalf (torch 2.4's ``torch.export.load`` about its own
``torch.load``; torch 2.14 on every ``torch.jit.load``): the user cannot act on it there."""


@contextmanager
def recorded_warnings(irrelevant: Sequence[Irrelevant] = ()) -> Iterator[list[str]]:
    """Record every warning raised in the block, whatever the warning filters say, and print
    none. The yielded list is filled as warnings come: one line per distinct warning that no
    ``irrelevant`` entry matches (``Category: first line of its message``), in order, at most
    :data:`MAX_NOTES` of them. A model that warns on every call keeps only its distinct lines,
    not one record per call."""
    notes: list[str] = []

    def record(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: object = None,
        line: str | None = None,
    ) -> None:
        raised = warnings.WarningMessage(message, category, filename, lineno)
        if any(entry.matches(raised) for entry in irrelevant) or len(notes) >= MAX_NOTES:
            return
        note = _one_line(raised)
        if note not in notes:
            notes.append(note)

    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = record  # restored by catch_warnings
        yield notes


MAX_NOTES = 20
"""Distinct warnings kept from one block."""


def _one_line(message: warnings.WarningMessage) -> str:
    lines = [line.strip() for line in str(message.message).splitlines() if line.strip()]
    text = f"{message.category.__name__}: {lines[0]}" if lines else message.category.__name__
    return text if len(text) <= 300 else text[:299] + "…"


@contextmanager
def deprecations_dropped(log: logging.Logger, doing: str) -> Iterator[None]:
    """Around a dependency's (de)serialisation of a model: its deprecation warnings are dropped
    (:data:`DEPRECATED`), any other warning is logged once as ``a warning was raised while
    <doing>: ...``, never printed raw. That includes the warnings torch's C++ code prints itself
    (see :func:`native_warnings`)."""
    with recorded_warnings([DEPRECATED]) as notes, native_warnings() as native:
        yield
    for note in [*notes, *(n for n in native if "deprecated" not in n.lower())]:
        log.warning("a warning was raised while %s: %s", doing, note)


_NATIVE_WARNING = re.compile(r"^\[W\d{4} [\d:.]+ [^\]]*\] Warning: (.*?)(?: \(function \S+\))?$")
"""A warning printed by torch's C++ ``TORCH_WARN`` where no Python caller turns it into a Python
warning (deserialising a TorchScript file): ``[W1206 19:55:16.701346553 Quantizer.cpp:111]
Warning: <message> (function operator())``."""


@contextmanager
def native_warnings() -> Iterator[list[str]]:
    """Capture what native code writes to this process's standard error inside the block: the
    lines that are torch's own C++ warnings are returned (their messages, filled in when the block
    ends), every other line is written back to standard error as it was. Nothing is captured when
    standard error is not a file descriptor."""
    found: list[str] = []
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):
        yield found
        return
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield found
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            text = sink.read().decode("utf-8", "replace")
    kept = []
    for line in text.splitlines(keepends=True):
        match = _NATIVE_WARNING.match(line.rstrip("\n"))
        if match is None:
            kept.append(line)
        elif match.group(1) not in found:
            found.append(match.group(1))
    if kept:
        sys.stderr.write("".join(kept))
        sys.stderr.flush()
