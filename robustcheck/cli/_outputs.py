"""Report files of one scan: stubs first, then the final reports, each written atomically.

A target that exists must be a regular file; ``-`` is standard output (no stub: a stream cannot be
rewritten, so it gets one document, the report or the error stub).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import click

from robustcheck.errors import RobustcheckError, RuntimeEnvironmentError, UsageError
from robustcheck.exit_codes import ExitCode
from robustcheck.files import check_output_target, is_stdout, write_text_atomic
from robustcheck.reports import html, json_report, junit, markdown
from robustcheck.reports.model import Report
from robustcheck.reports.stub import render_stub

RENDERERS: dict[str, Callable[[Report], str]] = {
    "json": json_report.render,
    "junit": junit.render,
    "markdown": markdown.render,
    "html": html.render,
}


@dataclass(frozen=True)
class ReportTargets:
    paths: dict[str, Path]
    """Format name → output path, for the formats asked for."""

    @property
    def to_stdout(self) -> bool:
        return any(is_stdout(p) for p in self.paths.values())

    @property
    def _files(self) -> dict[str, Path]:
        return {fmt: path for fmt, path in self.paths.items() if not is_stdout(path)}

    def check_not_inputs(self, inputs: list[Path]) -> None:
        resolved = {_real(p) for p in inputs}
        for fmt, path in self._files.items():
            if _real(path) in resolved:
                raise UsageError(
                    f"--{fmt} {path}: is also an input of the scan; refusing to overwrite it"
                )
        if len({_real(p) for p in self.paths.values()}) < len(self.paths):
            raise UsageError("two report flags name the same file")

    def check_writable(self) -> None:
        """Refuse, before anything is written, a target that exists and is not a regular file."""
        for fmt, path in self._files.items():
            try:
                check_output_target(path)
            except RuntimeEnvironmentError as exc:
                raise RuntimeEnvironmentError(f"--{fmt} {exc.message}", hint=exc.hint) from None

    def write_stubs(self, message: str, exit_code: int | None = None) -> None:
        for fmt, path in self._files.items():
            _write(path, render_stub(fmt, message, exit_code))

    def write_failure(self, message: str, exit_code: int) -> None:
        """Every target a stub saying why the scan failed, standard output included."""
        for fmt, path in self.paths.items():
            _write(path, render_stub(fmt, message, exit_code))

    def write(self, report: Report) -> None:
        """Render every report, then write them; if any step fails, every target is left a stub
        saying so (none may say the scan finished while the run exits with an error)."""
        try:
            texts = {fmt: RENDERERS[fmt](report) for fmt in self.paths}
            for fmt, path in self.paths.items():
                _write(path, texts[fmt])
        except Exception as exc:
            if isinstance(exc, RobustcheckError):
                message, code = exc.one_line(), int(exc.exit_code)
            else:
                message, code = (
                    f"internal error: {type(exc).__name__}",
                    int(ExitCode.INTERNAL_ERROR),
                )
            for fmt, path in self._files.items():
                with contextlib.suppress(RobustcheckError):
                    _write(path, render_stub(fmt, f"the scan failed: {message}", code))
            raise


@dataclass
class StepSummary:
    """``$GITHUB_STEP_SUMMARY``, which GitHub Actions shows on the run page; appended to, by
    convention. One scan appends its report once; an error after that (or instead) appends a short
    error section, so the page never shows a verdict the exit code contradicts."""

    enabled: bool = True
    """False with ``--no-step-summary``."""
    report_written: bool = False
    error_written: bool = False

    def append_report(self, report: Report) -> None:
        if not self.report_written:
            self._append(markdown.render(report))
            self.report_written = True

    def append_error(self, message: str, exit_code: int) -> None:
        """Best effort: the error itself is what the run reports, not a failing summary."""
        if self.error_written:
            return
        self.error_written = True
        with contextlib.suppress(RobustcheckError):
            self._append(render_stub("markdown", message, exit_code))

    def _append(self, text: str) -> None:
        target = os.environ.get("GITHUB_STEP_SUMMARY")
        if not self.enabled or not target:
            return
        try:
            check_output_target(Path(target), "step summary")  # appending to a device writes to it
        except RuntimeEnvironmentError as exc:
            raise RuntimeEnvironmentError(f"$GITHUB_STEP_SUMMARY {exc.message}") from None
        try:
            with Path(target).open("a", encoding="utf-8") as handle:
                handle.write(text)
        except OSError as exc:
            raise RuntimeEnvironmentError(
                f"$GITHUB_STEP_SUMMARY {target}: cannot append ({exc.strerror})",
                hint="--no-step-summary skips it",
            ) from None


def _real(path: Path) -> str:
    """The path with symlinks resolved; never raises (a symlink loop stays as it is)."""
    return os.path.realpath(path)


def _write(path: Path, text: str) -> None:
    if is_stdout(path):
        click.echo(text, nl=not text.endswith("\n"))
        return
    try:
        write_text_atomic(path, text)
    except OSError as exc:
        raise RuntimeEnvironmentError(f"{path}: cannot write the report ({exc.strerror})") from None
