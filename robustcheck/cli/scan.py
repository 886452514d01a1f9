"""``robustcheck scan``: parse flags, call :func:`robustcheck.engine.runner.run`, write reports."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from robustcheck.cli._options import debug_option, flag_errors
from robustcheck.cli._project import effective
from robustcheck.cli._settings import settings_options
from robustcheck.cli._terminal import err, out, progress_bar
from robustcheck.settings import ScanSettings

if TYPE_CHECKING:
    from robustcheck.cli._outputs import StepSummary
    from robustcheck.cli.config_file import ProjectConfig
    from robustcheck.settings.reports import ReportTarget
    from robustcheck.tracking.mlflow_run import Tracking


@click.command()
@settings_options(ScanSettings)
@click.option(
    "--config",
    "config",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Project configuration (YAML, or a pyproject.toml's [tool.robustcheck]). "
    "Default: robustcheck.yaml, else pyproject.toml, in the working directory or the nearest "
    "folder above it, up to the repository root.",
)
@click.option("--no-config", is_flag=True, help="Ignore the project configuration.")
@debug_option
@click.pass_context
def scan(ctx: click.Context, **_: Any) -> int:
    """Scan MODEL (.onnx, TorchScript .pt/.ts, or torch.export .pt2) with FGSM.

    Loading a TorchScript or .pt2 file runs code from it: scan only models you would run anyway.

    Any flag (and MODEL, as `model`) can be set in the project configuration, keyed by its long
    name: `data: test.npz`, `eps: [0.03, 0.1]`, `json: report.json`. Flags given here win;
    `robustcheck config show` prints the effective settings and where each came from.

    \b
    Example:
      robustcheck scan model.pt --data test.npz --eps 0.03 --eps 0.1 --max-error-rate 0.5
    """
    from robustcheck.cli._outputs import StepSummary
    from robustcheck.errors import RobustcheckError
    from robustcheck.exit_codes import ExitCode

    summary = StepSummary(enabled=ctx.params["step_summary"])
    try:
        settings = effective(ctx, ScanSettings)
        summary.enabled = settings.values["step_summary"]
        return scan_with(settings.values, project=settings.config, summary=summary)
    except click.UsageError as exc:
        summary.append_error(f"usage error: {exc.format_message()}", ExitCode.USAGE_ERROR)
        raise
    except RobustcheckError as exc:
        usage = exc.exit_code == ExitCode.USAGE_ERROR
        what = "usage error" if usage else "the scan failed"
        summary.append_error(f"{what}: {exc.one_line()}", int(exc.exit_code))
        raise
    except Exception as exc:
        message = f"internal error: {type(exc).__name__} (rerun with --debug)"
        summary.append_error(message, ExitCode.INTERNAL_ERROR)
        raise


def scan_with(
    values: dict[str, Any],
    *,
    project: ProjectConfig | None = None,
    summary: StepSummary | None = None,
) -> int:
    """The scan, from effective settings (flags over the project configuration over defaults)."""
    from robustcheck.engine.resolve import resolve_scan

    with flag_errors(ScanSettings):
        settings = ScanSettings.model_validate(values)
    config = resolve_scan(settings, config_source=None if project is None else project.source)
    reports = settings.report_targets()
    if settings.shard is not None:
        return _scan_shard(config, settings.shard, settings.progress, reports)
    distributed = None
    if settings.executor == "ray":
        distributed = {"address": settings.ray_address, "shards": settings.shards}
    return run_and_report(
        config,
        reports=reports,
        progress=settings.progress,
        also_inputs=[] if project is None else [project.path],
        summary=summary,
        distributed=distributed,
        tracking=settings.mlflow,
    )


def _scan_shard(config: Any, text: str, progress: bool | None, reports: list[ReportTarget]) -> int:
    """``--shard I/N``: scan part of the data and write its partial result (no verdict yet)."""
    from robustcheck.cli._outputs import ReportTargets
    from robustcheck.errors import RobustcheckError, RuntimeEnvironmentError
    from robustcheck.execution.isolation import scan_shard
    from robustcheck.execution.shards import Shard
    from robustcheck.files import is_stdout, write_text_atomic

    try:
        shard = Shard.parse(text)
    except ValueError as exc:
        raise click.UsageError(f"--shard: {exc}") from None
    if [t.format for t in reports] != ["json"]:
        raise click.UsageError(
            "--shard writes a partial result to --json PATH (and no other report format: "
            "`robustcheck report merge` writes them from all the parts)"
        )
    targets = ReportTargets.resolve(reports)
    path = reports[0].path
    targets.check_not_inputs(_input_paths(config))
    targets.check_writable()
    targets.write_stubs(f"shard {shard} started and has not finished (or was interrupted)")
    try:
        with progress_bar(progress, "scanning") as callback:
            partial = scan_shard(config, shard, progress=callback)
    except RobustcheckError as exc:
        targets.write_failure(f"shard {shard} failed: {exc.one_line()}", int(exc.exit_code))
        raise
    text = partial.model_dump_json(indent=2) + "\n"
    if is_stdout(path):
        click.echo(text, nl=False)
    else:
        try:
            write_text_atomic(path, text)
        except OSError as exc:
            raise RuntimeEnvironmentError(f"{path}: cannot write ({exc.strerror})") from None
    (err if is_stdout(path) else out)(
        f"shard {shard}: {partial.samples} of {partial.n_samples} samples "
        f"({len(partial.batches)} batches); partial result: {path}"
    )
    return 0


def run_and_report(
    config: Any,
    *,
    reports: list[ReportTarget],
    progress: bool | None,
    also_inputs: list[Path] | None = None,
    summary: StepSummary | None = None,
    distributed: dict[str, Any] | None = None,
    tracking: Tracking = "off",
) -> int:
    """Stub every report target, scan, log to MLflow (``tracking``), then write the reports; an
    error leaves stubs saying why (and an error section in the step summary)."""
    from robustcheck.cli._outputs import ReportTargets, StepSummary, check_not_inputs
    from robustcheck.errors import RobustcheckError
    from robustcheck.execution.isolation import default_max_memory_mb, run_isolated
    from robustcheck.reports.summary import render as summary_text

    summary = summary or StepSummary()
    targets = ReportTargets.resolve(reports)
    inputs = [*_input_paths(config), *(also_inputs or [])]
    if config.checkpoint is not None:  # the checkpoint is written to as well: never an input
        check_not_inputs({f"--checkpoint {config.checkpoint}": config.checkpoint}, inputs)
        inputs.append(config.checkpoint)
    targets.check_not_inputs(inputs)
    targets.check_writable()
    if tracking != "off":
        from robustcheck.tracking.mlflow_run import check_installed

        check_installed()
    targets.write_stubs("the scan started and has not finished (or was interrupted)")
    try:
        with progress_bar(progress, "scanning") as callback:
            if distributed is not None:
                from robustcheck.execution.ray_executor import run_on_ray

                report = run_on_ray(config, **distributed, progress=callback)
            elif config.isolate:
                report = run_isolated(
                    config,
                    timeout_s=config.timeout_s,
                    max_memory_mb=config.max_memory_mb or default_max_memory_mb(),
                    progress=callback,
                )
            else:
                from robustcheck.execution.local import run_here  # torch: where the scan runs

                report = run_here(config, progress=callback)
        summary.append_report(report)  # before the reports: a failure here must not leave a PASS
    except RobustcheckError as exc:
        summary.append_error(f"the scan failed: {exc.one_line()}", int(exc.exit_code))
        targets.write_failure(f"the scan failed: {exc.one_line()}", int(exc.exit_code))
        raise
    if tracking != "off":
        _track(report, required=tracking == "required", targets=targets, summary=summary)
    try:
        targets.write(report)
    except RobustcheckError as exc:
        summary.append_error(f"the reports were not written: {exc.one_line()}", int(exc.exit_code))
        raise
    show = err if targets.to_stdout else out  # standard output holds the report alone
    show(summary_text(report))
    for t in reports:
        show(f"{t.format} report: {'standard output' if str(t.path) == '-' else t.path}")
    return report.exit_code


def _track(report: Any, *, required: bool, targets: Any, summary: StepSummary) -> None:
    """Log to MLflow: a failure is a warning, or (``--mlflow=required``) an error that leaves
    every report a stub saying so."""
    from robustcheck.errors import RuntimeEnvironmentError
    from robustcheck.tracking.mlflow_run import log_report

    try:
        logged = log_report(report)
    except RuntimeEnvironmentError as exc:
        if not required:
            err(f"robustcheck: warning: {exc.one_line()} (the verdict stands)")
            return
        message = f"the report was not logged: {exc.one_line()}"
        summary.append_error(message, int(exc.exit_code))
        targets.write_failure(message, int(exc.exit_code))
        raise
    (err if targets.to_stdout else out)(f"mlflow: run {logged.run_id} at {logged.tracking_uri}")


def _input_paths(config: Any) -> list[Path]:
    """Every file the scan only reads, which no report flag (nor the checkpoint) may name."""
    optional = [
        config.baseline,
        config.labels_file,
        config.class_names_file,
        config.eps_scale,
        config.surrogate,
        config.tokenizer,
    ]
    source = config.policy_source or ""
    if source not in ("default", "--max-error-rate") and not source.startswith("builtin:"):
        optional.append(Path(source))
    return [config.model, config.data, *(p for p in optional if p is not None)]
