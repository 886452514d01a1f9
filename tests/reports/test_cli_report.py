"""``robustcheck report render`` and ``report diff``, driven through click's CliRunner."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from robustcheck.cli.report import report as report_group
from robustcheck.errors import InputError
from robustcheck.reports import html, json_report, junit, markdown, summary
from robustcheck.reports.diff import diff, render_diff
from robustcheck.reports.model import Report


@pytest.fixture
def saved(report: Report, tmp_path: Path) -> Path:
    path = tmp_path / "scan.json"
    path.write_text(json_report.render(report), encoding="utf-8")
    return path


def _invoke(*args: str):
    return CliRunner().invoke(report_group, list(args), standalone_mode=False)


def test_render_writes_every_format(report, saved, tmp_path):
    out = tmp_path / "out"
    result = _invoke(
        "render",
        str(saved),
        "--json",
        str(out / "r.json"),
        "--junit",
        str(out / "junit.xml"),
        "--markdown",
        str(out / "r.md"),
        "--html",
        str(out / "r.html"),
    )
    assert result.exception is None, result.output
    assert result.return_value == 0
    assert (out / "r.json").read_text(encoding="utf-8") == json_report.render(report)
    assert (out / "junit.xml").read_text(encoding="utf-8") == junit.render(report)
    assert (out / "r.md").read_text(encoding="utf-8") == markdown.render(report)
    assert (out / "r.html").read_text(encoding="utf-8") == html.render(report)
    assert sorted(p.name for p in out.iterdir()) == ["junit.xml", "r.html", "r.json", "r.md"]


def test_render_to_stdout(report, saved):
    result = _invoke("render", str(saved), "--markdown", "-")
    assert result.return_value == 0
    assert result.stdout == markdown.render(report)


def test_render_without_options_prints_the_summary(report, saved):
    result = _invoke("render", str(saved))
    assert result.return_value == 0
    assert result.stdout == summary.render(report)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{not json", "not JSON"),
        ("[1, 2]", "expected a JSON object"),
        (
            '{"schema_version": "1.0", "complete": true}',
            "not a robustcheck report: verdict: Field required (and ",
        ),
        ('{"schema_version": "2.0"}', "schema_version 2.0 cannot be read"),
        ('{"schema_version": "1.99"}', "(it reads 1.0 to 1."),
        ('{"schema_version": 1}', "schema_version 1 is not MAJOR.MINOR"),
    ],
)
def test_unreadable_reports_are_input_errors(tmp_path, content, expected):
    path = tmp_path / "bad.json"
    path.write_text(content, encoding="utf-8")
    result = _invoke("render", str(path), "--junit", str(tmp_path / "junit.xml"))
    assert isinstance(result.exception, InputError)
    assert result.exception.exit_code == 3
    line = result.exception.one_line()
    assert expected in line and "\n" not in line
    assert not (tmp_path / "junit.xml").exists()


def test_located_validation_error(report, tmp_path):
    raw = json_report.render(report).replace('"eps": 0.05,', '"eps": "wide",', 1)
    path = tmp_path / "bad.json"
    path.write_text(raw, encoding="utf-8")
    result = _invoke("render", str(path))
    assert isinstance(result.exception, InputError)
    assert "results[0].eps: Input should be a valid number" in result.exception.one_line()


def test_missing_file_is_an_input_error(tmp_path):
    result = _invoke("render", str(tmp_path / "absent.json"))
    assert isinstance(result.exception, InputError)


def test_diff_prints_the_comparison(report, saved, tmp_path):
    changed = report.model_copy(update={"verdict": "pass", "exit_code": 0, "checks": []})
    other = tmp_path / "other.json"
    other.write_text(json_report.render(changed), encoding="utf-8")
    result = _invoke("diff", str(saved), str(other))
    assert result.return_value == 0
    assert result.stdout == render_diff(diff(report, changed))
    assert "verdict: error -> pass (better)" in result.stdout
