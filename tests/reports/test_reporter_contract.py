"""The contract every registered report format meets, plugins included (after garak's detector
tests): it renders a full, a partial and an error report as text, deterministically, without
touching a file, and its error stub says why."""

from __future__ import annotations

from pathlib import Path

import pytest

from robustcheck.reports.builtin import reporter_registry
from robustcheck.reports.registry import REPORTERS, Reporter
from robustcheck.settings import ScanSettings, flags

REGISTRY, _ = reporter_registry()
FORMATS = REGISTRY.names()
DOCS = Path(__file__).resolve().parents[2] / "docs" / "reports.md"


@pytest.fixture(params=FORMATS)
def reporter(request) -> Reporter:
    return REGISTRY.get(request.param)()


def _is_text(rendered: object) -> None:
    assert isinstance(rendered, str) and rendered.strip()
    rendered.encode("utf-8")  # written as UTF-8: no lone surrogate
    assert "\x00" not in rendered


def test_the_built_ins_are_registered():
    assert {"json", "junit", "markdown", "html"} <= set(FORMATS)


def test_every_report_flag_names_a_built_in_format_and_the_docs_list_them():
    own_flags = {flag.key(n) for n, flag in flags(ScanSettings).items() if flag.kind == "report"}
    assert own_flags <= set(REPORTERS.names())
    table = DOCS.read_text()
    for name in REPORTERS.names():
        cls = REPORTERS.get(name)
        assert f"| `{name}` |" in table and f"| `{cls.suffix}` |" in table, name


def test_it_describes_itself(reporter):
    assert REGISTRY.get(reporter.name) is type(reporter)
    assert reporter.suffix.startswith(".") and "/" in reporter.media_type
    assert reporter.description


def test_it_renders_a_report_as_text_deterministically(reporter, report, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    rendered = reporter.render(report)
    _is_text(rendered)
    assert reporter.render(report.model_copy(deep=True)) == rendered
    assert type(reporter)().render(report) == rendered
    assert list(tmp_path.iterdir()) == []  # pure: the CLI writes


def test_it_renders_a_partial_report(reporter, report):
    _is_text(reporter.render(report.model_copy(update={"complete": False, "verdict": "error"})))


@pytest.mark.parametrize("exit_code", [3, None])
def test_its_error_stub_says_why(reporter, exit_code, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    message = "the scan failed: model.onnx: cannot read the model"
    stub = reporter.render_error(message, exit_code)
    _is_text(stub)
    assert "cannot read the model" in stub
    assert reporter.render_error(message, exit_code) == stub
    assert list(tmp_path.iterdir()) == []


def test_its_error_stub_survives_hostile_text(reporter):
    _is_text(reporter.render_error("<script>x</script> | ::error::y \x00\x1b\ud800 end", 6))
