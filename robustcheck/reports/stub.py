"""What a report target holds while a scan runs, or after one that did not finish.

Each target is replaced by one of these before the scan starts, so a crash, a kill or an error
can never leave an earlier report saying pass.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from robustcheck.reports._escape import markdown_text, one_line, xml_text
from robustcheck.reports.html import render_error_page
from robustcheck.reports.model import SCHEMA_VERSION
from robustcheck.vocabulary import REPORT_FORMATS

FORMATS = REPORT_FORMATS


class IncompleteReport(BaseModel):
    """The JSON stub: what ``report render`` reads back from a scan that did not finish."""

    model_config = ConfigDict(extra="forbid")

    schema_version: str
    complete: Literal[False]
    verdict: Literal["error"]
    exit_code: int | None
    message: str

    def render(self, fmt: str) -> str:
        return render_stub(fmt, self.message, self.exit_code)

    def text(self) -> str:
        code = "" if self.exit_code is None else f", exit {self.exit_code}"
        return f"robustcheck: ERROR (incomplete{code}): {one_line(self.message)}\n"


def parse_stub(raw: dict[str, Any]) -> IncompleteReport | None:
    """The stub ``raw`` is, or ``None`` when it is something else (a full report, or junk)."""
    try:
        return IncompleteReport.model_validate(raw)
    except ValidationError:
        return None


def render_stub(fmt: str, message: str, exit_code: int | None = None) -> str:
    """An incomplete report: verdict error, ``complete: false``, and why."""
    if fmt == "json":
        stub = {
            "schema_version": SCHEMA_VERSION,
            "complete": False,
            "verdict": "error",
            "exit_code": exit_code,
            "message": message,
        }
        return json.dumps(stub, indent=2) + "\n"
    if fmt == "junit":
        suites = ET.Element("testsuites", name="robustcheck", tests="1", failures="0", errors="1")
        suite = ET.SubElement(
            suites,
            "testsuite",
            name="robustcheck",
            tests="1",
            failures="0",
            errors="1",
            skipped="0",
        )
        case = ET.SubElement(suite, "testcase", classname="robustcheck", name="scan completed")
        error = ET.SubElement(case, "error", message=xml_text(one_line(message)))
        error.text = xml_text(message)
        return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"
    if fmt == "markdown":
        code = "" if exit_code is None else f" (exit {exit_code})"
        return f"## robustcheck: ERROR (incomplete)\n\n**ERROR**{code}: {markdown_text(message)}\n"
    if fmt == "html":
        return render_error_page(message, exit_code)
    raise ValueError(f"unknown report format {fmt!r}")
