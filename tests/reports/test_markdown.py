"""Markdown: golden file, escaping of user strings, no CI workflow commands."""

from __future__ import annotations

from robustcheck.reports import markdown


def test_matches_golden(report, golden):
    golden("report.md", markdown.render(report))


def test_checks_are_listed_worst_first(report):
    section = markdown.render(report).split("### Checks")[1].split("\n\n")[1]
    statuses = [row.split("|")[1].strip() for row in section.splitlines()[2:]]
    assert statuses == ["**ERROR**", "**FAIL**", "WARN", "PASS"]


def test_no_line_starts_a_workflow_command(hostile_report):
    for line in markdown.render(hostile_report).splitlines():
        stripped = line.lstrip()
        assert not stripped.startswith("::"), line
        assert not stripped.startswith("##vso["), line
        assert not stripped.startswith("##["), line


def test_user_strings_cannot_break_out(hostile_report):
    text = markdown.render(hostile_report)
    assert "<script>" not in text and "<img" not in text and "<b>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;\\|\\`x\\`" in text
    assert "\\`code\\` \\| pipe &lt;b&gt;bold&lt;/b&gt;" in text
    assert "##vso[" not in text
    assert "\x1b" not in text and "\x00" not in text


def test_table_rows_keep_their_column_count(hostile_report):
    text = markdown.render(hostile_report)
    for line in text.splitlines():
        if line.startswith("| "):
            # Escaped pipes (\|) are cell content, not separators.
            cells = line.replace("\\|", "").count("|")
            assert cells in (6, 8), line


def test_without_checks(report):
    text = markdown.render(
        report.model_copy(update={"checks": [], "verdict": "pass", "exit_code": 0})
    )
    assert "**PASS** (exit 0): no policy checks; measurements only." in text
    assert "### Checks" not in text


def test_incomplete_is_an_error(report):
    text = markdown.render(report.model_copy(update={"complete": False}))
    assert text.startswith("## robustcheck: ERROR\n")
    assert "did not complete" in text


def test_footer_has_short_hashes_and_versions(report):
    footer = markdown.render(report).splitlines()[-1]
    assert "model sha256 0123456789ab ·" in footer
    assert "data sha256 fedcba987654 ·" in footer
    assert "robustcheck 0.1.0" in footer and "onnxruntime 1.20.1" in footer
