"""``robustcheck report``: re-render a saved JSON report in other formats, or compare two."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from robustcheck.cli._options import debug_option
from robustcheck.cli._terminal import err, out
from robustcheck.errors import RuntimeEnvironmentError

if TYPE_CHECKING:
    from robustcheck.reports.model import Report

_OUTPUT = click.Path(path_type=Path, dir_okay=False, allow_dash=True)


@click.group()
def report() -> None:
    """Re-render, compare or merge saved JSON reports."""


@report.command()
@click.argument("report_path", metavar="REPORT.json", type=click.Path(path_type=Path))
@click.option("--json", "json_path", type=_OUTPUT, help="Write the JSON report here.")
@click.option("--junit", "junit_path", type=_OUTPUT, help="Write JUnit XML here.")
@click.option("--markdown", "markdown_path", type=_OUTPUT, help="Write Markdown here.")
@click.option("--html", "html_path", type=_OUTPUT, help="Write a self-contained HTML page here.")
@debug_option
def render(
    report_path: Path,
    json_path: Path | None,
    junit_path: Path | None,
    markdown_path: Path | None,
    html_path: Path | None,
) -> int:
    """Render a saved JSON report as JSON, JUnit XML, Markdown or HTML.

    A PATH of - writes to standard output. Without any option, prints the text summary. An
    incomplete report (the stub a scan that did not finish leaves) renders as that error in every
    format. Exits 0 whatever the report's verdict; exits 3 when REPORT.json is not a readable report.
    `scan` already appends its summary to $GITHUB_STEP_SUMMARY: do not append it again.

    \b
    Example:
      robustcheck report render scan.json --junit junit.xml --markdown summary.md
    """
    from robustcheck.reports import html, json_report, junit, markdown, text
    from robustcheck.reports.stub import IncompleteReport

    loaded = json_report.read_any(report_path)
    renderers: list[tuple[str, Path | None, Callable[[Report], str]]] = [
        ("json", json_path, json_report.render),
        ("junit", junit_path, junit.render),
        ("markdown", markdown_path, markdown.render),
        ("html", html_path, html.render),
    ]
    wanted = [(fmt, path, fn) for fmt, path, fn in renderers if path is not None]
    if isinstance(loaded, IncompleteReport):
        if not wanted:
            out(loaded.text())
        for fmt, path, _fn in wanted:
            _write(path, loaded.render(fmt))
        return 0
    if not wanted:
        out(text.render(loaded))
    for _fmt, path, fn in wanted:
        _write(path, fn(loaded))
    return 0


@report.command()
@click.argument("baseline", metavar="A.json", type=click.Path(path_type=Path))
@click.argument("candidate", metavar="B.json", type=click.Path(path_type=Path))
@debug_option
def diff(baseline: Path, candidate: Path) -> int:
    """Show how report B differs from report A: error rates, checks, verdict, model and data.

    Always exits 0 (3 when a file is not a readable report); gate on `scan` instead.
    """
    from robustcheck.reports.diff import diff as diff_reports
    from robustcheck.reports.diff import render_diff

    out(render_diff(diff_reports(load_report(baseline), load_report(candidate))))
    return 0


@report.command()
@click.argument(
    "parts", metavar="PARTS...", nargs=-1, required=True, type=click.Path(path_type=Path)
)
@click.option(
    "-o", "--json", "json_path", type=_OUTPUT, required=True, help="Write the JSON report here."
)
@click.option("--junit", "junit_path", type=_OUTPUT, help="Write JUnit XML here.")
@click.option("--markdown", "markdown_path", type=_OUTPUT, help="Write Markdown here.")
@click.option("--html", "html_path", type=_OUTPUT, help="Write a self-contained HTML page here.")
@debug_option
def merge(
    parts: tuple[Path, ...],
    json_path: Path,
    junit_path: Path | None,
    markdown_path: Path | None,
    html_path: Path | None,
) -> int:
    """Merge the partial results of `scan --shard I/N` into one report, and gate on it.

    Refuses (exit 3) parts of different models, data or settings, a missing shard, a shard given
    twice and a part edited after it was written. The policy is judged once, on the merged counts:
    the report equals the unsharded scan's, and the exit code is the scan's (0 pass, 1 fail).

    \b
    Example:
      robustcheck report merge part-*.json -o report.json --junit junit.xml
    """
    from robustcheck.cli._outputs import ReportTargets, StepSummary
    from robustcheck.execution.shards import merge_parts, read_partial
    from robustcheck.reports import text

    paths = {"json": json_path, "junit": junit_path, "markdown": markdown_path, "html": html_path}
    targets = ReportTargets({k: v for k, v in paths.items() if v is not None})
    targets.check_not_inputs(list(parts))
    targets.check_writable()
    merged = merge_parts([(str(p), read_partial(p)) for p in parts])
    StepSummary().append_report(merged)  # before the reports: a failure must not leave a PASS
    targets.write(merged)
    (err if targets.to_stdout else out)(text.render(merged))  # stdout may hold a report alone
    return merged.exit_code


def load_report(path: Path) -> Report:
    from robustcheck.reports.json_report import read

    return read(path)


def _write(path: Path, text: str) -> None:
    from robustcheck.files import write_text_atomic

    if str(path) == "-":
        out(text)
        return
    try:
        write_text_atomic(path, text)
    except OSError as exc:
        raise RuntimeEnvironmentError(f"{path}: cannot write: {exc}") from exc
