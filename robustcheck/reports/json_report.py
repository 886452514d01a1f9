"""JSON: the source of truth and the baseline format."""

from __future__ import annotations

from robustcheck.reports.model import Report


def render(report: Report) -> str:
    return report.model_dump_json(indent=2) + "\n"


def parse(text: str) -> Report:
    return Report.model_validate_json(text)
