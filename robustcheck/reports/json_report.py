"""JSON: the source of truth and the baseline format."""

from __future__ import annotations

import json
from pathlib import Path

from pydantic import ValidationError

from robustcheck.errors import InputError
from robustcheck.reports.model import Report
from robustcheck.reports.schema import version_problem


def render(report: Report) -> str:
    return report.model_dump_json(indent=2) + "\n"


def parse(text: str) -> Report:
    return Report.model_validate_json(text)


def read(path: Path) -> Report:
    """Read a JSON report, raising :class:`InputError` with one line saying what is wrong."""
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
