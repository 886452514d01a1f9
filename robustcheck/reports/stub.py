"""What a report target holds while a scan runs, or after one that did not finish.

Each target is replaced by one of these before the scan starts, so a crash, a kill or an error
can never leave an earlier report saying pass.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from robustcheck.reports._escape import html_text, markdown_text, one_line, xml_text
from robustcheck.reports.model import SCHEMA_VERSION
from robustcheck.vocabulary import REPORT_FORMATS

FORMATS = REPORT_FORMATS


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
        return f"## robustcheck: ERROR (incomplete)\n\n{markdown_text(message)}\n"
    if fmt == "html":
        return (
            '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            "<title>robustcheck: incomplete</title></head><body><h1>robustcheck: ERROR (incomplete)</h1>"
            f"<p>{html_text(message)}</p></body></html>\n"
        )
    raise ValueError(f"unknown report format {fmt!r}")
