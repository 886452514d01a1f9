"""``robustcheck report``: re-render a saved JSON report in other formats, or compare two."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from robustcheck.cli._options import debug_option
from robustcheck.cli._settings import settings_options
from robustcheck.cli._terminal import err, out
from robustcheck.errors import RuntimeEnvironmentError
from robustcheck.settings import ScanSettings, flags

if TYPE_CHECKING:
    from robustcheck.reports.model import Report
    from robustcheck.settings.reports import ReportTarget

_OUTPUT = click.Path(path_type=Path, dir_okay=False, allow_dash=True)
REPORT_FLAGS = {name: flag for name, flag in flags(ScanSettings).items() if flag.kind == "report"}
"""The built-in formats' own flags (``--json PATH``), as ``scan`` declares them."""
REPORT_SETTINGS = (*REPORT_FLAGS, "reports")
"""Those and ``--report FORMAT=PATH``: where ``report render`` and ``report merge`` write."""


@click.group()
def report() -> None:
    """Re-render, compare or merge saved JSON reports."""


@report.command()
@click.argument("report_path", metavar="REPORT.json", type=click.Path(path_type=Path))
@settings_options(ScanSettings, only=REPORT_SETTINGS)
@debug_option
def render(report_path: Path, reports: tuple[str, ...], **paths: Any) -> int:
    """Render a saved JSON report in any format: JSON, JUnit XML, Markdown, HTML, a plugin's.

    A PATH of - writes to standard output. Without any option, prints the text summary. An
    incomplete report (the stub a scan that did not finish leaves) renders as that error in every
    format. Exits 0 whatever the report's verdict; exits 3 when REPORT.json is not a readable report.
    `scan` already appends its summary to $GITHUB_STEP_SUMMARY: do not append it again.

    \b
    Example:
      robustcheck report render scan.json --junit junit.xml --markdown summary.md
    """
    from robustcheck.cli._outputs import ReportTargets
    from robustcheck.reports import json_report, summary
    from robustcheck.reports.stub import IncompleteReport

    targets = ReportTargets.resolve(_targets(paths, reports))  # an unknown format: exit 2 first
    loaded = json_report.read_any(report_path)
    if not targets.targets:
        out(loaded.text() if isinstance(loaded, IncompleteReport) else summary.render(loaded))
    for target in targets.targets:
        reporter = targets.formats[target.format]
        if isinstance(loaded, IncompleteReport):
            _write(target.path, reporter.render_error(loaded.message, loaded.exit_code))
        else:
            _write(target.path, reporter.render(loaded))
    return 0


def _targets(paths: dict[str, Any], reports: tuple[str, ...]) -> list[ReportTarget]:
    """The targets of the report flags and ``--report`` options; a format given twice, or a
    malformed ``--report``, is a usage error."""
    from robustcheck.settings.reports import report_targets

    given = {flag.key(name): paths.get(name) for name, flag in REPORT_FLAGS.items()}
    try:
        return report_targets(given, reports)
    except ValueError as exc:
        raise click.UsageError(f"--report: {exc}") from None


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
@settings_options(ScanSettings, only=REPORT_SETTINGS, skip=("json_path",))
@debug_option
def merge(parts: tuple[Path, ...], reports: tuple[str, ...], **paths: Any) -> int:
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
    from robustcheck.reports.summary import render as summary_text

    targets = ReportTargets.resolve(_targets(paths, reports))
    targets.check_not_inputs(list(parts))
    targets.check_writable()
    merged = merge_parts([(str(p), read_partial(p)) for p in parts])
    StepSummary().append_report(merged)  # before the reports: a failure must not leave a PASS
    targets.write(merged)
    (err if targets.to_stdout else out)(summary_text(merged))  # stdout may hold a report alone
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
