"""The ``robustcheck`` command: the only place that prints or decides the process exit code.

Each command imports the library inside its function, so `robustcheck --help` (and every command's
help) stays instant: torch and onnxruntime load only in the commands that scan.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
import traceback
from collections.abc import Sequence

import click

from robustcheck._version import __version__
from robustcheck.cli._terminal import err
from robustcheck.cli.config_cmd import config_group
from robustcheck.cli.demo import demo
from robustcheck.cli.harden import harden
from robustcheck.cli.inspect_cmd import inspect_command
from robustcheck.cli.plugins_cmd import plugins_command
from robustcheck.cli.policy import policy
from robustcheck.cli.report import report
from robustcheck.cli.scan import scan
from robustcheck.cli.surrogate_cmd import surrogate_group
from robustcheck.errors import RobustcheckError
from robustcheck.exit_codes import ExitCode

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


@click.group(context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, "--version", prog_name="robustcheck")
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logs.")
def cli(debug: bool) -> None:
    """Measure how easily worst-case input changes (FGSM) fool a classifier, and gate CI on it.

    \b
    Exit codes:
      0  pass            1  policy failed       2  usage error
      3  input error     4  security refusal    5  environment error
      6  internal error  (an error always outranks a verdict)
    """
    logging.basicConfig(level=logging.DEBUG if debug else logging.WARNING, stream=sys.stderr)


cli.add_command(scan)
cli.add_command(harden)
cli.add_command(demo)
cli.add_command(inspect_command)
cli.add_command(policy)
cli.add_command(plugins_command)
cli.add_command(report)
cli.add_command(config_group)
cli.add_command(surrogate_group)


class _Terminated(BaseException):
    """SIGTERM, turned into an exception so cleanup runs and the exit code says why."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise _Terminated


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code (tests call this in-process)."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        code = cli.main(args=args, prog_name="robustcheck", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.UsageError as exc:
        hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
        err(f"robustcheck: error: {exc.format_message()}{hint}".replace("\n", " "))
        return int(ExitCode.USAGE_ERROR)
    except click.ClickException as exc:
        err(f"robustcheck: error: {exc.format_message()}")
        return int(ExitCode.USAGE_ERROR)
    except (click.Abort, KeyboardInterrupt):
        err("robustcheck: interrupted; report files say the scan is incomplete")
        return 130
    except _Terminated:
        err("robustcheck: terminated; report files say the scan is incomplete")
        return 143
    except RobustcheckError as exc:
        return _report_error(exc, exc.one_line(), exc.exit_code, debug)
    except MemoryError as exc:
        return _report_error(
            exc, "out of memory (try a smaller --batch-size)", ExitCode.ENVIRONMENT_ERROR, debug
        )
    except Exception as exc:
        message = f"internal error: {type(exc).__name__}: {exc} (rerun with --debug and report it)"
        return _report_error(exc, message, ExitCode.INTERNAL_ERROR, debug)
    return int(code or 0)


def _report_error(exc: BaseException, line: str, code: ExitCode, debug: bool) -> int:
    if debug:
        err("".join(traceback.format_exception(exc)))
    err(f"robustcheck: error: {' '.join(line.split())}")
    return int(code)
