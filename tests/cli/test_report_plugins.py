"""Report formats from plugins: a distribution installed on disk declares a reporter in the
``robustcheck.reporters`` entry-point group, and ``scan`` and ``report render`` write it with
``--report FORMAT=PATH``; a broken one is named and skipped."""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path

import pytest
from _distributions import installed, write_distribution

from robustcheck.cli import main
from robustcheck.exit_codes import ExitCode
from robustcheck.registry import REPORTERS
from robustcheck.reports.builtin import reporter_registry
from robustcheck.reports.json_report import read
from robustcheck.reports.registry import REPORTERS as BUILTIN

CSV_SUMMARY = """
    import csv
    import io

    from robustcheck.reports.registry import Reporter


    def _rows(rows):
        out = io.StringIO()
        csv.writer(out, lineterminator="\\n").writerows(rows)
        return out.getvalue()


    class CsvSummary(Reporter):
        name = "csvsummary"
        suffix = ".csv"
        media_type = "text/csv"
        description = "one row per attack and eps"

        def render(self, report):
            header = [("attack", "eps", "adversarial_error_rate", "verdict")]
            return _rows(
                header
                + [(r.attack, r.eps, r.adversarial_error_rate, report.verdict) for r in report.results]
            )

        def render_error(self, message, exit_code):
            return _rows([("error", exit_code, message)])


    class Exploding(CsvSummary):
        name = "exploding"

        def render(self, report):
            raise ValueError("renderer bug")


    class Misnamed(CsvSummary):
        name = "something-else"


    class Unfinished(Reporter):
        name = "unfinished"
        suffix = ".txt"
        media_type = "text/plain"

        def render(self, report):
            return ""
"""


@pytest.fixture
def plugins(tmp_path_factory, monkeypatch):
    """A distribution declaring the csvsummary and exploding formats, installed for the test."""
    root = write_distribution(
        tmp_path_factory.mktemp("site"),
        "robustcheck-csvsummary",
        {"mypkg": CSV_SUMMARY},
        {REPORTERS: {"csvsummary": "mypkg:CsvSummary", "exploding": "mypkg:Exploding"}},
    )
    with installed(monkeypatch, root, ["mypkg"]):
        yield root


def _scan(capsys, model: Path, data: Path, *args: str | Path) -> tuple[int, str, str]:
    argv = ["scan", str(model), "--data", str(data), "--eps", "0.1", "--limit", "40"]
    code = main([*argv, "--no-isolation", "--no-step-summary", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _csv_summary():
    from mypkg import CsvSummary  # the plugin's own module, as the entry point loads it

    return CsvSummary()


def test_scan_and_render_write_a_plugin_format(plugins, capsys, cnn_model, digits_npz, tmp_path):
    scanned, rendered, report = tmp_path / "out.csv", tmp_path / "out2.csv", tmp_path / "r.json"
    code, out, err = _scan(
        capsys, cnn_model.torchscript, digits_npz, "--json", report, "--report",
        f"csvsummary={scanned}",
    )  # fmt: skip
    assert code in (ExitCode.OK, ExitCode.POLICY_FAILED), err
    assert f"csvsummary report: {scanned}" in out
    expected = _csv_summary().render(read(report))
    assert scanned.read_text() == expected
    assert expected.startswith("attack,eps,adversarial_error_rate,verdict\nfgsm,0.1,")

    assert main(["report", "render", str(report), "--report", f"csvsummary={rendered}"]) == 0
    assert rendered.read_text() == expected


def test_a_plugin_format_to_standard_output(plugins, capsys, cnn_model, digits_npz, tmp_path):
    report = tmp_path / "r.json"
    code, out, err = _scan(
        capsys, cnn_model.torchscript, digits_npz, "--json", report, "--report", "csvsummary=-"
    )
    assert code in (ExitCode.OK, ExitCode.POLICY_FAILED), err
    assert out == _csv_summary().render(read(report))  # the report alone
    assert "csvsummary report: standard output" in err


def test_a_plugin_target_holds_its_error_stub_when_the_scan_fails(
    plugins, capsys, digits_npz, tmp_path
):
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a model")
    target = tmp_path / "out.csv"
    target.write_text("attack,eps\nfgsm,0.1\n")  # an earlier run's report
    code, _, _ = _scan(capsys, broken, digits_npz, "--report", f"csvsummary={target}")
    assert code == ExitCode.INPUT_ERROR
    stub = target.read_text()
    assert stub.startswith(f"error,{int(ExitCode.INPUT_ERROR)},") and "the scan failed: " in stub


def test_a_format_that_fails_to_render_leaves_every_target_a_stub(
    plugins, capsys, cnn_model, digits_npz, tmp_path
):
    targets = {"json": tmp_path / "r.json", "markdown": tmp_path / "r.md"}
    code, _, err = _scan(
        capsys, cnn_model.torchscript, digits_npz, "--json", targets["json"], "--markdown",
        targets["markdown"], "--report", f"exploding={tmp_path / 'r.csv'}",
    )  # fmt: skip
    assert code == ExitCode.INTERNAL_ERROR and "ValueError" in err
    stub = json.loads(targets["json"].read_text())
    assert (stub["complete"], stub["verdict"], stub["exit_code"]) == (False, "error", 6)
    assert "the scan failed: internal error: ValueError" in targets["markdown"].read_text()
    assert (tmp_path / "r.csv").read_text().startswith("error,6,the scan failed: internal error")


@pytest.mark.parametrize("command", ["scan", "render"])
def test_an_unknown_format_is_a_usage_error_naming_those_there_are(
    plugins, capsys, cnn_model, digits_npz, tmp_path, command
):
    target = tmp_path / "out.txt"
    if command == "scan":
        code, _, err = _scan(
            capsys, cnn_model.torchscript, digits_npz, "--report", f"nosuch={target}"
        )
    else:
        (tmp_path / "r.json").write_text("{}")
        code = main(["report", "render", str(tmp_path / "r.json"), "--report", f"nosuch={target}"])
        err = capsys.readouterr().err
    assert code == ExitCode.USAGE_ERROR
    assert (
        "unknown report format 'nosuch'; available: csvsummary, exploding, html, json, junit, "
        "markdown" in err
    )
    assert not target.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--json", "a.json", "--report", "json=b.json"], "the json report is asked for twice"),
        (["--report", "junit=a.xml", "--report", "junit=b.xml"], "the junit report is asked for"),
        (["--report", "junit"], "expected FORMAT=PATH"),
        (["--report", "=a.xml"], "expected FORMAT=PATH"),
    ],
)
@pytest.mark.parametrize("command", ["scan", "render", "merge"])
def test_each_format_is_given_once_as_format_path(
    capsys, cnn_model, digits_npz, tmp_path, monkeypatch, args, message, command
):
    monkeypatch.chdir(tmp_path)
    if command == "scan":
        code, _, err = _scan(capsys, cnn_model.torchscript, digits_npz, *args)
    else:
        head = ["report", "render", "r.json"] if command == "render" else ["report", "merge", "p"]
        extra = ["-o", "merged.json"] if command == "merge" and "--json" not in args else []
        code = main([*head, *extra, *args])
        err = capsys.readouterr().err
    assert code == ExitCode.USAGE_ERROR, err
    assert "--report: " in err and message in err
    assert list(tmp_path.iterdir()) == []


def test_the_project_configuration_may_ask_for_a_format(
    plugins, capsys, cnn_model, digits_npz, tmp_path, monkeypatch
):
    project = tmp_path / "project"
    (project / "sub").mkdir(parents=True)
    (project / "robustcheck.yaml").write_text("report:\n  - csvsummary=reports/out.csv\n")
    monkeypatch.chdir(project / "sub")
    code, _, err = _scan(capsys, cnn_model.torchscript, digits_npz)
    assert code in (ExitCode.OK, ExitCode.POLICY_FAILED), err
    assert (project / "reports" / "out.csv").read_text().startswith("attack,eps,")  # beside it


def test_plugins_lists_report_formats(plugins, capsys):
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "report formats:" in out
    assert "  csvsummary plugin   .csv   one row per attack and eps" in out
    assert "  json       built-in .json" in out


def test_a_broken_reporter_plugin_is_named_and_skipped(
    tmp_path, monkeypatch, capsys, cnn_model, digits_npz
):
    root = write_distribution(
        tmp_path / "site",
        "robustcheck-broken-formats",
        {"mypkg_broken": CSV_SUMMARY},
        {
            REPORTERS: {
                "missing": "no_such_module_xyz:Reporter",
                "not-a-class": "json:dumps",
                "misnamed": "mypkg_broken:Misnamed",
                "unfinished": "mypkg_broken:Unfinished",
                "json": "mypkg_broken:CsvSummary",
                "csvsummary": "mypkg_broken:CsvSummary",
            }
        },
    )
    with installed(monkeypatch, root, ["mypkg_broken"]):
        registry, statuses = reporter_registry()
        errors = {s.name: s.error for s in statuses if s.error}
        assert "ModuleNotFoundError" in errors["missing"]
        assert "not a Reporter subclass" in errors["not-a-class"]
        assert "its name is 'something-else'" in errors["misnamed"]
        assert "does not implement render_error" in errors["unfinished"]
        assert "its name is 'csvsummary', the entry point 'json'" in errors["json"]
        assert registry.names() == ["csvsummary", "html", "json", "junit", "markdown"]

        assert main(["plugins"]) == 3
        out = capsys.readouterr().out
        assert "  missing    BROKEN   no_such_module_xyz:Reporter: ModuleNotFoundError" in out
        assert "  csvsummary plugin" in out

        report = tmp_path / "r.json"
        code, _, err = _scan(
            capsys, cnn_model.torchscript, digits_npz, "--json", report, "--report",
            f"csvsummary={tmp_path / 'out.csv'}",
        )  # fmt: skip
        assert code in (ExitCode.OK, ExitCode.POLICY_FAILED), err
        assert (
            "robustcheck: warning: report-format plugin 'missing' (no_such_module_xyz:Reporter) "
            "was skipped: ModuleNotFoundError" in err
        )
        assert json.loads(report.read_text())["complete"]
        assert (tmp_path / "out.csv").read_text().startswith("attack,eps,")


def test_the_built_in_formats_are_declared_in_the_entry_point_group():
    declared = {
        ep.name: ep.value
        for ep in metadata.entry_points(group=REPORTERS)
        if ep.value.startswith("robustcheck.")
    }
    registry, _ = reporter_registry()
    assert sorted(declared) == BUILTIN.names()  # every registered built-in, and only those
    for name, value in declared.items():
        module, _, attribute = value.partition(":")
        assert registry.get(name).__module__ == module and registry.get(name).__name__ == attribute
