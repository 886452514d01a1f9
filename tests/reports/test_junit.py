"""JUnit XML: golden file, the shipped XSD, escaping and the mapping of check states."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import xmlschema

from robustcheck.reports import junit
from robustcheck.reports.model import Report

XSD = Path(__file__).parent / "junit.xsd"
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")


@pytest.fixture(scope="module")
def schema() -> xmlschema.XMLSchema:
    return xmlschema.XMLSchema(XSD)


def _cases(xml: str) -> dict[str, ET.Element]:
    root = ET.fromstring(xml.encode("utf-8"))
    return {case.get("name", ""): case for case in root.iter("testcase")}


def test_matches_golden(report, golden):
    golden("report.junit.xml", junit.render(report))


def test_validates_against_the_junit_schema(report, hostile_report, schema):
    for r in (report, hostile_report):
        schema.validate(junit.render(r))


def test_one_case_per_check_with_readable_names(report):
    cases = _cases(junit.render(report))
    fail = cases["max_adversarial_error_rate @ fgsm eps=0.1"]
    assert fail.get("classname") == "robustcheck.fgsm.eps_0_1"
    failure = fail.find("failure")
    assert failure is not None
    assert failure.get("message") == "observed 45.0% > limit 30.0%"
    assert failure.get("type") == "max_adversarial_error_rate"
    error = cases["max_adversarial_error_rate @ noise eps=0.2"].find("error")
    assert error is not None and error.get("message") == "no noise result at eps=0.2"
    warn = cases["max_class_adversarial_error_rate @ fgsm eps=0.1 class 2 (plane|ship)"]
    assert warn.find("failure") is None and warn.find("error") is None
    assert (warn.findtext("system-out") or "").startswith("WARN: ")
    passed = cases["max_adversarial_error_rate @ fgsm eps=0.05"]
    assert list(passed) and passed[0].tag == "system-out"


def test_counts_add_up(report):
    root = ET.fromstring(junit.render(report))
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == [
        "robustcheck.fgsm",
        "robustcheck.noise",
        "robustcheck.scan",
    ]
    for element in [root, *suites]:
        cases = list(element.iter("testcase"))
        assert int(element.get("tests", "")) == len(cases)
        assert int(element.get("failures", "")) == sum(c.find("failure") is not None for c in cases)
        assert int(element.get("errors", "")) == sum(c.find("error") is not None for c in cases)
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("5", "1", "1")


def test_without_checks_each_result_is_a_measured_case(report, schema):
    measured = report.model_copy(update={"checks": [], "verdict": "pass", "exit_code": 0})
    xml = junit.render(measured)
    schema.validate(xml)
    cases = _cases(xml)
    names = [n for n in cases if n.startswith("measured")]
    assert names == [
        "measured @ fgsm eps=0.05",
        "measured @ fgsm eps=0.1",
        "measured @ noise eps=0.05",
        "measured @ noise eps=0.1",
    ]
    assert "adversarial error rate 45.0% [36.0, 54.0]" in (
        cases["measured @ fgsm eps=0.1"].findtext("system-out") or ""
    )
    assert not any(
        c.find("failure") is not None or c.find("error") is not None for c in cases.values()
    )


def test_incomplete_report_is_a_single_error(report, schema):
    incomplete = report.model_copy(update={"complete": False})
    xml = junit.render(incomplete)
    schema.validate(xml)
    cases = list(ET.fromstring(xml).iter("testcase"))
    assert len(cases) == 1
    error = cases[0].find("error")
    assert error is not None and error.get("message") == "the scan did not complete"


def test_untrusted_fidelity_errors_the_scan(report: Report, schema):
    fidelity = report.fidelity.model_copy(update={"trusted": False})
    untrusted = report.model_copy(
        update={"fidelity": fidelity, "checks": report.checks[:1], "verdict": "error"}
    )
    xml = junit.render(untrusted)
    schema.validate(xml)
    error = _cases(xml)["gradient fidelity"].find("error")
    assert error is not None and error.get("type") == "fidelity"


def test_accepted_low_fidelity_passes_with_a_note(report):
    fidelity = report.fidelity.model_copy(update={"trusted": False})
    allowed = report.model_copy(
        update={"fidelity": fidelity, "checks": report.checks[:1], "verdict": "pass"}
    )
    case = _cases(junit.render(allowed))["gradient fidelity"]
    assert case.find("error") is None
    assert (case.findtext("system-out") or "").startswith("WARN: low fidelity accepted")


def test_a_failing_verdict_is_never_all_green(report):
    # A verdict that no case explains (say, from a newer rule) still turns the suite red.
    odd = report.model_copy(update={"checks": report.checks[:1], "verdict": "fail"})
    failure = _cases(junit.render(odd))["verdict"].find("failure")
    assert failure is not None and failure.get("message") == "verdict fail (exit 3)"


def test_duplicate_case_names_are_numbered(report):
    twice = report.model_copy(update={"checks": [report.checks[0], report.checks[0]]})
    names = [n for n in _cases(junit.render(twice)) if n.startswith("max_")]
    assert names == [
        "max_adversarial_error_rate @ fgsm eps=0.05",
        "max_adversarial_error_rate @ fgsm eps=0.05 (2)",
    ]


def test_xml_illegal_characters_are_replaced(hostile_report):
    xml = junit.render(hostile_report)
    assert not _XML_ILLEGAL.search(xml)
    ET.fromstring(xml.encode("utf-8"))  # a conforming parser accepts it
    assert "nul#x00 bell#x07 esc#x1B del#x7F nonchar#xFFFE#xFFFF surrogate#xD800 end" in xml
    assert "<script>" not in xml


def test_the_schema_is_strict_enough_to_catch_mistakes(report, schema):
    broken = junit.render(report).replace(' name="gradient fidelity"', "", 1)
    assert not schema.is_valid(broken)  # a testcase needs a name
    assert not schema.is_valid(junit.render(report).replace('tests="5"', 'tests="five"', 1))
