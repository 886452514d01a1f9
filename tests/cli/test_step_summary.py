"""$GITHUB_STEP_SUMMARY: the report once, a short error section on errors, and an off switch."""

from __future__ import annotations

import json

from robustcheck.cli import main


def _scan(capsys, *args):
    code = main(["scan", *map(str, args)])
    capsys.readouterr()
    return code


def test_a_finished_scan_appends_its_summary_once(
    capsys, monkeypatch, cnn_model, digits_npz, tmp_path
):
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    report = tmp_path / "r.json"
    code = _scan(
        capsys, cnn_model.torchscript, "--data", digits_npz, "--eps", "0.05", "--json", report
    )
    assert code == 0
    assert summary.read_text().count("## robustcheck:") == 1
    # Re-rendering never touches the summary: the scan already wrote it.
    assert main(["report", "render", str(report), "--markdown", str(tmp_path / "r.md")]) == 0
    assert summary.read_text().count("## robustcheck:") == 1


def test_errors_append_a_short_error_section(capsys, monkeypatch, digits_npz, tmp_path):
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a model")
    assert _scan(capsys, broken, "--data", digits_npz, "--eps", "0.1") == 3
    text = summary.read_text()
    assert text.startswith("## robustcheck: ERROR (incomplete)")
    assert "(exit 3)" in text and "broken.pt" in text and text.count("## robustcheck") == 1
    # A usage error (no data) too.
    summary.unlink()
    assert _scan(capsys, broken, "--eps", "0.1") == 2
    assert "usage error: no data to scan" in summary.read_text()


def test_no_step_summary_switches_it_off(capsys, monkeypatch, cnn_model, digits_npz, tmp_path):
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    args = [cnn_model.torchscript, "--data", digits_npz, "--eps", "0.05", "--no-step-summary"]
    assert _scan(capsys, *args) == 0
    assert _scan(capsys, tmp_path / "missing.pt", *args[1:]) == 3
    assert not summary.exists()


def test_report_render_renders_an_incomplete_stub(capsys, digits_npz, tmp_path):
    report = tmp_path / "r.json"
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a model")
    assert _scan(capsys, broken, "--data", digits_npz, "--eps", "0.1", "--json", report) == 3
    assert json.loads(report.read_text())["complete"] is False
    out = {fmt: tmp_path / f"out.{fmt}" for fmt in ("junit", "markdown", "html")}
    flags = [arg for fmt, path in out.items() for arg in (f"--{fmt}", str(path))]
    assert main(["report", "render", str(report), *flags]) == 0
    assert "<error" in out["junit"].read_text()
    assert out["markdown"].read_text().startswith("## robustcheck: ERROR (incomplete)")
    page = out["html"].read_text()
    assert "<style>" in page and "verdict-error" in page and str(broken) in page
    assert main(["report", "render", str(report)]) == 0
    assert capsys.readouterr().out.startswith("robustcheck: ERROR (incomplete, exit 3): ")
    # report diff still needs two finished reports
    assert main(["report", "diff", str(report), str(report)]) == 3
    assert "an incomplete report" in capsys.readouterr().err
