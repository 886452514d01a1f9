"""The report's JSON Schema, checked in as ``docs/report-schema.json`` (a test keeps it current).

Regenerate with ``python -m robustcheck.reports.schema > docs/report-schema.json``.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any

from robustcheck.reports.model import SCHEMA_VERSION, Report

DIALECT = "https://json-schema.org/draft/2020-12/schema"
_VERSION = re.compile(r"(\d+)\.(\d+)")


def version_problem(version: object) -> str | None:
    """Why a report with this ``schema_version`` cannot be read, or None when it can.

    A reader accepts its own major version up to its own minor version: minor versions only add
    optional fields, and the model rejects fields it does not know.
    """
    theirs = _VERSION.fullmatch(version) if isinstance(version, str) else None
    if theirs is None:
        return f"schema_version {version!r} is not MAJOR.MINOR"
    our_major, our_minor = (int(part) for part in SCHEMA_VERSION.split("."))
    if int(theirs[1]) != our_major or int(theirs[2]) > our_minor:
        return (
            f"schema_version {version} cannot be read by this robustcheck "
            f"(it reads {our_major}.0 to {SCHEMA_VERSION})"
        )
    return None


def report_json_schema() -> str:
    """The JSON Schema of :class:`Report` as the JSON reports are read back (sorted, indented)."""
    schema: dict[str, Any] = Report.model_json_schema(mode="validation")
    schema["$schema"] = DIALECT
    schema["title"] = "robustcheck report"
    schema["description"] = (
        f"A robustcheck scan report, schema_version {SCHEMA_VERSION}. Readers accept reports "
        "with the same major version and the same or an older minor version."
    )
    return json.dumps(schema, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    sys.stdout.write(report_json_schema())
