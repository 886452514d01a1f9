"""Report files of one scan: stubs first, then the final reports, each written atomically.

A target that exists must be a regular file; ``-`` is standard output (no stub: a stream cannot be
rewritten, so it gets one document, the report or the error stub).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

import click

from robustcheck.cli._terminal import err
from robustcheck.errors import RobustcheckError, RuntimeEnvironmentError, UsageError
from robustcheck.exit_codes import ExitCode
from robustcheck.files import check_output_target, is_stdout, write_text_atomic
from robustcheck.registry import Registry
from robustcheck.reports import markdown
from robustcheck.reports.builtin import reporter_registry
from robustcheck.reports.model import Report
from robustcheck.reports.registry import Reporter
from robustcheck.settings.reports import ReportTarget


def reporters() -> Registry[type[Reporter]]:
    """The report formats: the built-ins and the installed plugins; a plugin that fails to load
    is named on stderr and skipped."""
    registry, statuses = reporter_registry()
    for status in statuses:
        if status.error:
            err(
                f"robustcheck: warning: report-format plugin {status.name!r} ({status.value}) "
                f"was skipped: {status.error}"
            )
    return registry


def check_not_inputs(outputs: dict[str, Path], inputs: list[Path]) -> None:
    """Refuse an output (named as the command line spelled it) that is also an input."""
    resolved = {_real(p) for p in inputs}
    for shown, path in outputs.items():
        if not is_stdout(path) and _real(path) in resolved:
            raise UsageError(f"{shown}: is also an input of the scan; refusing to overwrite it")


@dataclass(frozen=True)
class ReportTargets:
    """The reports a command writes, each with the format that renders it."""

    targets: list[ReportTarget]
    formats: dict[str, Reporter]
    """Format name → its reporter, for every target."""

    @classmethod
    def resolve(cls, targets: list[ReportTarget]) -> ReportTargets:
        """Look every format up in the registry: an unknown one is a usage error naming those
        there are."""
        registry = reporters() if targets else None
        formats = {t.format: registry.get(t.format)() for t in targets} if registry else {}
        return cls(targets, formats)

    @property
    def to_stdout(self) -> bool:
        return any(is_stdout(t.path) for t in self.targets)

    @property
    def _files(self) -> list[ReportTarget]:
        return [t for t in self.targets if not is_stdout(t.path)]

    def check_not_inputs(self, inputs: list[Path]) -> None:
        check_not_inputs({t.shown(): t.path for t in self.targets}, inputs)
        if len({_real(t.path) for t in self.targets}) < len(self.targets):
            raise UsageError("two report flags name the same file")

    def check_writable(self) -> None:
        """Refuse, before anything is written, a target that exists and is not a regular file."""
        for t in self._files:
            try:
                check_output_target(t.path)
            except RuntimeEnvironmentError as exc:
                shown = f"--report {t.format}=" if t.generic else f"--{t.format} "
                raise RuntimeEnvironmentError(f"{shown}{exc.message}", hint=exc.hint) from None

    def write_stubs(self, message: str, exit_code: int | None = None) -> None:
        for t in self._files:
            _write(t.path, self.formats[t.format].render_error(message, exit_code))

    def write_failure(self, message: str, exit_code: int) -> None:
        """Every target a stub saying why the scan failed, standard output included."""
        for t in self.targets:
            _write(t.path, self.formats[t.format].render_error(message, exit_code))

    def write(self, report: Report) -> None:
        """Render every report, then write them; if any step fails, every target is left a stub
        saying so (none may say the scan finished while the run exits with an error)."""
        try:
            texts = [self.formats[t.format].render(report) for t in self.targets]
            for t, text in zip(self.targets, texts, strict=True):
                _write(t.path, text)
        except Exception as exc:
            if isinstance(exc, RobustcheckError):
                message, code = exc.one_line(), int(exc.exit_code)
            else:
                message, code = (
                    f"internal error: {type(exc).__name__}",
                    int(ExitCode.INTERNAL_ERROR),
                )
            for t in self._files:
                with contextlib.suppress(Exception):  # a format that cannot say so is left out
                    stub = self.formats[t.format].render_error(f"the scan failed: {message}", code)
                    _write(t.path, stub)
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
            self._append(markdown.render_error(message, exit_code))

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
