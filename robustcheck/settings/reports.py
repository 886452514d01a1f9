"""Where the reports of a command go: each built-in format's own flag (``--json PATH``) and the
generic ``--report FORMAT=PATH``, which names any registered format, plugins included.

Only the spelling is checked here (a format given once, ``FORMAT=PATH``); whether a format exists
is the report-format registry's to say (robustcheck.reports.registry), when the command runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

REPORT_OPTION = "--report"


@dataclass(frozen=True)
class ReportTarget:
    format: str
    path: Path
    """``-`` is standard output."""
    generic: bool = False
    """Asked for with ``--report FORMAT=PATH`` rather than the format's own flag."""

    def shown(self) -> str:
        """How the command line spelled it, for messages: ``--junit out.xml``."""
        if self.generic:
            return f"{REPORT_OPTION} {self.format}={self.path}"
        return f"--{self.format} {self.path}"


def parse_report_option(text: str) -> tuple[str, str]:
    """``FORMAT=PATH`` → ``(FORMAT, PATH)``; anything else is a ValueError saying what is wanted."""
    name, sep, path = text.partition("=")
    if not sep or not name.strip() or not path:
        raise ValueError(f"expected FORMAT=PATH (e.g. junit=report.xml), got {text!r}")
    return name.strip(), path


def report_targets(flags: Mapping[str, Path | None], generic: Iterable[str]) -> list[ReportTarget]:
    """The targets of the built-in formats' flags (format → path, ``None`` when not given) and of
    ``--report FORMAT=PATH`` options, in that order; a format asked for twice is a ValueError."""
    targets = [ReportTarget(fmt, path) for fmt, path in flags.items() if path is not None]
    for text in generic:
        name, path = parse_report_option(text)
        targets.append(ReportTarget(name, Path(path), generic=True))
    seen: dict[str, ReportTarget] = {}
    for target in targets:
        if target.format in seen:
            first = seen[target.format]
            raise ValueError(
                f"the {target.format} report is asked for twice ({first.shown()}, "
                f"{target.shown()}); give each format once"
            )
        seen[target.format] = target
    return targets
