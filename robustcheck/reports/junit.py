"""JUnit XML for CI test dashboards (GitLab, Jenkins, GitHub test-report actions).

Each policy check becomes one test case, so a dashboard lists exactly which budget failed:

- ``fail`` → ``<failure message="observed 45.1% > limit 30.0%">``
- ``error`` (the rule could not be evaluated) → ``<error>``
- ``warn`` → a passing case whose ``<system-out>`` starts with ``WARN``. Not ``<skipped>``: every
  dashboard reads skipped as "did not run", and a warning check did run and measured something.
- ``pass`` → a passing case whose ``<system-out>`` holds the measurement.

A report without checks gets one passing case per attack × ε saying what was measured. Every
complete report also gets a ``gradient fidelity`` case, and an extra ``verdict`` case is added
when no other case explains a failing verdict, so the dashboard is red exactly when the scan's
verdict is not ``pass``. An incomplete report is a single ``<error>`` case.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass
from typing import Literal

from robustcheck.reports import _format as fmt
from robustcheck.reports._escape import one_line, xml_text
from robustcheck.reports._text_examples import text_example_lines
from robustcheck.reports._trust import min_eps_line, trust_lines
from robustcheck.reports.model import AttackResult, Check, Report
from robustcheck.reports.registry import REPORTERS, Reporter

Outcome = Literal["pass", "failure", "error"]
PREFIX = "robustcheck"
SCAN_SUITE = f"{PREFIX}.scan"
_UNSAFE_TOKEN = re.compile(r"[^A-Za-z0-9_-]+")
_VERDICT_OUTCOME: dict[str, Outcome] = {"fail": "failure", "error": "error"}


@dataclass
class _Case:
    suite: str
    classname: str
    name: str
    outcome: Outcome = "pass"
    kind: str = ""
    """The ``type`` of a failure or error: the rule, or what went wrong with the scan."""
    message: str = ""
    details: str = ""
    system_out: str = ""


@REPORTERS.register()
class JUnitReporter(Reporter):
    name = "junit"
    suffix = ".xml"
    media_type = "application/xml"
    description = "JUnit XML for CI test dashboards: one test case per policy check"

    def render(self, report: Report) -> str:
        return render(report)

    def render_error(self, message: str, exit_code: int | None) -> str:
        return render_error(message, exit_code)


def render(report: Report) -> str:
    """The report as a JUnit XML document (one ``<testsuites>`` root)."""
    cases = _cases(report)
    root = ET.Element("testsuites", name=PREFIX)
    _set_counts(root, cases)
    root.set("time", f"{max(report.duration_s, 0.0):.3f}")
    for suite_name in dict.fromkeys(case.suite for case in cases):
        members = [case for case in cases if case.suite == suite_name]
        root.append(_suite(report, suite_name, members))
    ET.indent(root, space="  ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def render_error(message: str, exit_code: int | None = None) -> str:
    """One ``<error>`` case, ``scan completed``, saying why there is no report."""
    suites = ET.Element("testsuites", name=PREFIX, tests="1", failures="0", errors="1")
    suite = ET.SubElement(
        suites, "testsuite", name=PREFIX, tests="1", failures="0", errors="1", skipped="0"
    )
    case = ET.SubElement(suite, "testcase", classname=PREFIX, name="scan completed")
    error = ET.SubElement(case, "error", message=xml_text(one_line(message)))
    error.text = xml_text(message)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


def _cases(report: Report) -> list[_Case]:
    if not report.complete:
        details = "\n".join(report.warnings) or "no further details in the report"
        message = "the scan did not complete"
        return [_Case(SCAN_SUITE, SCAN_SUITE, "scan", "error", "incomplete", message, details)]
    cases = _check_cases(report.checks) if report.checks else _measured_cases(report.results)
    cases.append(_fidelity_case(report))
    outcomes = {case.outcome for case in cases}
    wanted = _VERDICT_OUTCOME.get(report.verdict)
    if wanted is not None and wanted not in outcomes:
        message = f"verdict {report.verdict} (exit {report.exit_code})"
        details = "\n".join(report.warnings)
        cases.append(_Case(SCAN_SUITE, SCAN_SUITE, "verdict", wanted, "verdict", message, details))
    return cases


def _token(text: str) -> str:
    return _UNSAFE_TOKEN.sub("_", text).strip("_") or "_"


def _classname(attack: str | None, eps: float | None) -> str:
    """``robustcheck.fgsm.eps_0_1``: the ε's dot becomes ``_`` because Jenkins splits a classname
    into package and class at its last dot."""
    if attack is None:
        return f"{PREFIX}.policy"
    name = f"{PREFIX}.{_token(attack)}"
    return name if eps is None else f"{name}.eps_{_token(fmt.eps(eps).replace('.', '_'))}"


def _check_name(check: Check) -> str:
    name = check.rule
    if check.attack is not None:
        name += f" @ {check.attack}"
    if check.eps is not None:
        name += f" eps={fmt.eps(check.eps)}"
    if check.label is not None:
        name += f" class {fmt.check_class(check)}"
    return name


def _check_cases(checks: list[Check]) -> list[_Case]:
    cases: list[_Case] = []
    seen: Counter[tuple[str, str]] = Counter()
    for check in checks:
        suite = _classname(check.attack, None)
        classname = _classname(check.attack, check.eps)
        name = _check_name(check)
        seen[classname, name] += 1
        if seen[classname, name] > 1:
            name += f" ({seen[classname, name]})"
        summary = fmt.check_summary(check)
        case = _Case(suite, classname, name, kind=check.rule)
        if check.status == "fail":
            case.outcome, case.message, case.details = "failure", summary, check.message
        elif check.status == "error":
            case.outcome, case.message, case.details = "error", check.message, summary
        else:
            case.system_out = f"{check.status.upper()}: {check.message}\n{summary}"
        cases.append(case)
    return cases


def _measured_cases(results: list[AttackResult]) -> list[_Case]:
    cases = []
    for r in results:
        name = f"measured @ {r.attack} eps={fmt.eps(r.eps)}"
        lines = [
            f"adversarial error rate {fmt.pct_ci(r.adversarial_error_rate, r.adversarial_error_rate_interval)}",
            f"attack success rate {fmt.pct_ci(r.attack_success_rate, r.attack_success_rate_interval)}",
            f"clean error rate {fmt.pct(r.clean_error_rate)}",
            f"high-confidence errors (>= {r.high_confidence_threshold:g}) "
            f"{r.high_confidence_misclassifications}/{r.n}",
            f"mean confidence of adversarial errors {fmt.conf(r.mean_confidence_adversarial_errors)}",
        ]
        suite = _classname(r.attack, None)
        cases.append(_Case(suite, _classname(r.attack, r.eps), name, system_out="\n".join(lines)))
    return cases


def _fidelity_case(report: Report) -> _Case:
    f = report.fidelity
    adv = f.adversarial_max_abs_probability_difference
    details = (
        f"paths {f.paths}; clean max |dp| {fmt.diff(f.clean_max_abs_probability_difference)}, "
        f"top-1 agreement {fmt.pct(f.clean_top1_agreement)}; adversarial max |dp| "
        f"{'-' if adv is None else f'{adv:.3g}'}, top-1 agreement "
        f"{fmt.pct(f.adversarial_top1_agreement)}; tolerance {f.tolerance:g}"
    )
    case = _Case(SCAN_SUITE, SCAN_SUITE, "gradient fidelity")
    if f.trusted:
        case.system_out = f"PASS: {details}"
    elif report.verdict == "error":
        case.outcome, case.kind = "error", "fidelity"
        case.message = "the gradient path disagrees with the deployed runtime beyond the tolerance"
        case.details = details
    else:
        case.system_out = f"WARN: low fidelity accepted (--allow-low-fidelity): {details}"
    return case


def _set_counts(element: ET.Element, cases: list[_Case]) -> None:
    outcomes = Counter(case.outcome for case in cases)
    element.set("tests", str(len(cases)))
    element.set("failures", str(outcomes["failure"]))
    element.set("errors", str(outcomes["error"]))


def _suite(report: Report, name: str, cases: list[_Case]) -> ET.Element:
    suite = ET.Element("testsuite", name=xml_text(name))
    _set_counts(suite, cases)
    suite.set("skipped", "0")
    suite.set("timestamp", one_line(report.started_at))
    if name == SCAN_SUITE:
        properties = ET.SubElement(suite, "properties")
        for key, value in _properties(report):
            ET.SubElement(properties, "property", name=key, value=one_line(value))
    for case in cases:
        suite.append(_testcase(case))
    notes = [*_trust(report), *(f"warning: {w}" for w in report.warnings)]
    notes += [f"example: {line}" for line in text_example_lines(report)]
    if name == SCAN_SUITE and notes:
        out = ET.SubElement(suite, "system-out")
        out.text = xml_text("\n".join(notes))
    return suite


def _trust(report: Report) -> list[str]:
    """Validity and minimal ε are reported here; the gate is the policy's require_valid rule."""
    min_eps = min_eps_line(report)
    return [*trust_lines(report), *([min_eps] if min_eps else [])]


def _properties(report: Report) -> list[tuple[str, str]]:
    return [
        ("robustcheck.version", report.versions.robustcheck),
        ("report.schema_version", report.schema_version),
        ("verdict", report.verdict),
        ("model.path", report.model.path),
        ("model.sha256", report.model.sha256),
        ("data.path", report.data.path),
        ("data.sha256", report.data.sha256),
        *([("policy", fmt.policy_judge(report.policy.source))] if report.policy else []),
    ]


def _testcase(case: _Case) -> ET.Element:
    element = ET.Element("testcase", classname=xml_text(case.classname), name=one_line(case.name))
    if case.outcome != "pass":
        tag = "failure" if case.outcome == "failure" else "error"
        problem = ET.SubElement(element, tag, message=one_line(case.message))
        problem.set("type", one_line(case.kind or tag))
        problem.text = xml_text(case.details) if case.details else None
    if case.system_out:
        out = ET.SubElement(element, "system-out")
        out.text = xml_text(case.system_out)
    return element
