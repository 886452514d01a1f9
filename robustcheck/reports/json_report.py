"""JSON: the source of truth and the baseline format."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import ValidationError

from robustcheck.errors import InputError
from robustcheck.reports.model import SCHEMA_VERSION, Report
from robustcheck.reports.registry import REPORTERS, Reporter
from robustcheck.reports.schema import version_problem
from robustcheck.reports.stub import IncompleteReport, parse_stub


@REPORTERS.register()
class JsonReporter(Reporter):
    name = "json"
    suffix = ".json"
    media_type = "application/json"
    description = "the source of truth: report render, report diff and --baseline read it back"

    def render(self, report: Report) -> str:
        return render(report)

    def render_error(self, message: str, exit_code: int | None) -> str:
        return render_error(message, exit_code)


def render(report: Report) -> str:
    return report.model_dump_json(indent=2) + "\n"


def render_error(message: str, exit_code: int | None = None) -> str:
    """The stub :class:`~robustcheck.reports.stub.IncompleteReport` reads back: verdict error,
    ``complete: false``, and why."""
    stub = {
        "schema_version": SCHEMA_VERSION,
        "complete": False,
        "verdict": "error",
        "exit_code": exit_code,
        "message": message,
    }
    return json.dumps(stub, indent=2) + "\n"


def parse(text: str) -> Report:
    return Report.model_validate_json(text)


def read(path: Path) -> Report:
    """Read a JSON report, raising :class:`InputError` with one line saying what is wrong."""
    document = read_any(path)
    if isinstance(document, IncompleteReport):
        raise InputError(
            f"{path}: an incomplete report (the scan did not finish): {document.message}"
        )
    return document


def read_any(path: Path) -> Report | IncompleteReport:
    """A JSON report, or the stub robustcheck left for a scan that did not finish."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read the report: {exc}") from exc
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise InputError(f"{path}: not a robustcheck report (expected a JSON object)")
    _check_version(path, raw.get("schema_version"))
    stub = parse_stub(raw) if raw.get("complete") is False and "results" not in raw else None
    if stub is not None:
        return stub
    try:
        return Report.model_validate(raw)
    except ValidationError as exc:
        raise InputError(f"{path}: not a robustcheck report: {_first_error(exc)}") from exc


def _check_version(path: Path, version: object) -> None:
    if version is None:
        return  # the model's default applies
    problem = version_problem(version)
    if problem is not None:
        raise InputError(
            f"{path}: {problem}", hint="render it with the robustcheck version that wrote it"
        )


def _first_error(exc: ValidationError) -> str:
    errors = exc.errors()
    first = errors[0]
    location = "".join(
        f"[{part}]" if isinstance(part, int) else f".{part}" for part in first["loc"]
    ).lstrip(".")
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{location or 'report'}: {first['msg']}{more}"
