"""pytest plugin: robustness gates as ordinary tests beside the training code.

Installed with robustcheck (entry point ``pytest11``), it adds

- the ``robustcheck`` fixture: ``robustcheck.scan(model, data, eps=...)`` returns the report
  (:func:`robustcheck.scan`'s arguments), and ``robustcheck.assert_passed(report)`` fails the test
  with the failing rules, one per line, and where the report was written;
- ``--robustcheck-report DIR``: every scan a test makes through the fixture writes its JSON and
  HTML reports to ``DIR/<test id>[-<n>].json|html`` (names from the test's node id, so parallel
  workers under pytest-xdist never write the same file).

The plugin imports nothing heavy until a test uses the fixture: pytest loads it in every session
of an environment where robustcheck is installed (``pip install robustcheck-gate[pytest]``
brings a pytest along; any pytest ≥ 7 does).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from robustcheck.api import Report

OPTION = "--robustcheck-report"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("robustcheck", "robustness gates (robustcheck)")
    group.addoption(
        OPTION,
        metavar="DIR",
        default=None,
        help="Write the JSON and HTML report of every robustcheck scan a test makes to DIR.",
    )


class RobustnessFailed(AssertionError):
    """A scan's gate failed: the message lists the failing rules and the report's path."""


class Robustcheck:
    """What the ``robustcheck`` fixture gives a test: scans that remember their reports."""

    def __init__(self, node_id: str, folder: Path | None) -> None:
        self._stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", node_id).strip("_") or "test"
        self._folder = folder
        self._count = 0
        self.paths: dict[int, Path] = {}
        """Where each report was written (by ``id(report)``), with --robustcheck-report."""

    def scan(self, model: Any, data: Any, **kwargs: Any) -> Report:
        """:func:`robustcheck.scan`, writing the reports when --robustcheck-report is given."""
        from robustcheck.api import scan  # torch: only when a test scans

        report = scan(model, data, **kwargs)
        if self._folder is not None:
            self._count += 1
            suffix = "" if self._count == 1 else f"-{self._count}"
            path = self._folder / f"{self._stem}{suffix}.json"
            self._folder.mkdir(parents=True, exist_ok=True)
            path.write_text(report.to_json(), encoding="utf-8")
            report.to_html(path.with_suffix(".html"))
            self.paths[id(report)] = path
        return report

    def assert_passed(self, report: Report) -> None:
        """Fail the test unless the scan finished and every gating rule passed."""
        if report.passed:
            return
        lines = [f"robustness gate failed: verdict {report.verdict.upper()}"]
        lines += [f"  {c.status.upper():5}  {c.message}" for c in report.failures]
        path = self.paths.get(id(report))
        lines.append(f"  report: {path}" if path else f"  (pass {OPTION} DIR to keep the reports)")
        raise RobustnessFailed("\n".join(lines))


@pytest.fixture
def robustcheck(request: pytest.FixtureRequest) -> Robustcheck:
    """Scans with robustcheck.scan's arguments, and ``assert_passed(report)``."""
    folder = request.config.getoption(OPTION)
    return Robustcheck(request.node.nodeid, None if folder is None else Path(folder))
