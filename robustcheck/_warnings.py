"""Warnings raised by dependencies (torch, onnx, ...), caught where robustcheck calls them.

Python prints a warning to the terminal as a multi-line message with a source path, or not at all,
depending on filters the user never chose. :func:`recorded_warnings` takes that decision away:
inside the block every warning is recorded, none is printed; the ones known to be irrelevant to
the user are dropped and the rest come back as one-line notes for the caller to report in its own
words.
"""

from __future__ import annotations

import logging
import re
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
    none. The yielded list is filled when the block ends: one line per distinct warning that no
    ``irrelevant`` entry matches (``Category: first line of its message``), in order."""
    notes: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield notes
        finally:
            for message in caught:
                if any(entry.matches(message) for entry in irrelevant):
                    continue
                note = _one_line(message)
                if note not in notes:
                    notes.append(note)


def _one_line(message: warnings.WarningMessage) -> str:
    lines = [line.strip() for line in str(message.message).splitlines() if line.strip()]
    text = f"{message.category.__name__}: {lines[0]}" if lines else message.category.__name__
    return text if len(text) <= 300 else text[:299] + "…"


@contextmanager
def deprecations_dropped(log: logging.Logger, doing: str) -> Iterator[None]:
    """Around a dependency's (de)serialisation of a model: its deprecation warnings are dropped
    (:data:`DEPRECATED`), any other warning is logged once as ``a warning was raised while
    <doing>: ...``, never printed raw."""
    with recorded_warnings([DEPRECATED]) as notes:
        yield
    for note in notes:
        log.warning("a warning was raised while %s: %s", doing, note)
