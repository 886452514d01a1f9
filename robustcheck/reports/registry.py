"""The report-format registry: one :class:`Reporter` class per format, registered beside its
definition (``@REPORTERS.register()``); plugins come from the ``robustcheck.reporters``
entry-point group (:mod:`robustcheck.reports.builtin` gathers the built-ins and adds them).

A reporter is pure, after pip-audit's ``VulnerabilityFormat``: it turns a report (or the reason
there is none) into text and never touches a file; the CLI writes, atomically, and ``-`` is
standard output.
"""

from __future__ import annotations

import inspect
import re
from abc import ABC, abstractmethod
from typing import ClassVar

from robustcheck.registry import REPORTERS as GROUP
from robustcheck.registry import Registry
from robustcheck.reports.model import Report

_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")
_SUFFIX = re.compile(r"\.[A-Za-z0-9][A-Za-z0-9.]*")


class Reporter(ABC):
    """One report format. Instances are made with no arguments."""

    name: ClassVar[str]
    """What ``--report NAME=PATH`` and ``robustcheck plugins`` call the format; equals the entry
    point's name."""
    suffix: ClassVar[str]
    """The file suffix a report in this format usually has (``.xml``)."""
    media_type: ClassVar[str]
    """Its media type (``application/xml``)."""
    description: ClassVar[str] = ""
    """One line for ``robustcheck plugins``."""

    @abstractmethod
    def render(self, report: Report) -> str:
        """The report in this format (a complete report, or the partial one of a scan that was
        stopped: ``report.complete`` says which)."""

    @abstractmethod
    def render_error(self, message: str, exit_code: int | None) -> str:
        """What a target holds while its scan runs, and after a scan that did not finish: verdict
        error and ``message`` (why). It must never read as a pass: the CI job that finds it fails
        on it rather than on nothing."""


def _reporter_class(name: str, entry: object) -> type[Reporter]:
    if not (isinstance(entry, type) and issubclass(entry, Reporter)):
        raise TypeError(f"it is a {type(entry).__name__}, not a Reporter subclass")
    if inspect.isabstract(entry):
        missing = ", ".join(sorted(entry.__abstractmethods__))
        raise TypeError(f"{entry.__name__} does not implement {missing}")
    declared = getattr(entry, "name", None)
    if declared != name:
        raise ValueError(f"the class says its name is {declared!r}, the entry point {name!r}")
    if not _NAME.fullmatch(name):
        raise ValueError(f"{name!r} is not a format name (lower-case letters, digits, - and _)")
    suffix = getattr(entry, "suffix", None)
    if not isinstance(suffix, str) or not _SUFFIX.fullmatch(suffix):
        raise ValueError(f"suffix {suffix!r} is not a file suffix like '.csv'")
    if not isinstance(getattr(entry, "media_type", None), str):
        raise ValueError("it declares no media_type")
    return entry


REPORTERS: Registry[type[Reporter]] = Registry(
    "report format", GROUP, _reporter_class, name_of=lambda cls: str(getattr(cls, "name", ""))
)
"""The built-in formats, as their modules register them; never holds plugins (see
:meth:`Registry.with_plugins`)."""
