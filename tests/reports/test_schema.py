"""The published JSON Schema: current, valid, and satisfied by the JSON renderer's output."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from robustcheck.reports import json_report
from robustcheck.reports.model import SCHEMA_VERSION
from robustcheck.reports.schema import report_json_schema, version_problem

DOC = Path(__file__).resolve().parents[2] / "docs" / "report-schema.json"


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(report_json_schema())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_checked_in_schema_is_current():
    assert DOC.read_text(encoding="utf-8") == report_json_schema(), (
        "docs/report-schema.json is stale: run "
        "python -m robustcheck.reports.schema > docs/report-schema.json"
    )


def test_schema_is_deterministic_text():
    text = report_json_schema()
    assert text.endswith("}\n")
    assert text == json.dumps(json.loads(text), sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def test_rendered_report_validates(report, validator):
    validator.validate(json.loads(json_report.render(report)))


def test_minimal_report_validates(report, validator):
    bare = report.model_copy(update={"policy": None, "examples": [], "results": [], "checks": []})
    validator.validate(json.loads(json_report.render(bare)))


@pytest.mark.parametrize(
    "mutate",
    [
        lambda raw: raw.update(unexpected=1),
        lambda raw: raw.pop("verdict"),
        lambda raw: raw.update(verdict="maybe"),
        lambda raw: raw["checks"][0].update(status="skipped"),
        lambda raw: raw["results"][0].update(eps="0.1"),
    ],
)
def test_invalid_reports_are_rejected(report, validator, mutate):
    raw = json.loads(json_report.render(report))
    mutate(raw)
    assert list(validator.iter_errors(raw))


@pytest.mark.parametrize(
    ("version", "readable"),
    [
        ("1.0", True),
        (SCHEMA_VERSION, True),
        ("1.999", False),
        ("2.0", False),
        ("1", False),
        (1.0, False),
    ],
)
def test_version_policy(version, readable):
    assert (version_problem(version) is None) is readable
