"""Running a scan in a child process, so a model cannot crash, hang or exhaust the CI job.

Loading a model runs code from it (TorchScript, ``.pt2``) or native kernels on attacker-shaped
data (ONNX). The scan therefore runs in a child process; the parent enforces a wall-clock timeout
and a resident-memory cap, and turns a segfault, a hang or an out-of-memory kill into a one-line
error and an exit code instead of a dead job with no report.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import threading
import time
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from robustcheck.boundary import OUT_OF_MEMORY_HINT
from robustcheck.engine.config import ScanConfig
from robustcheck.engine.memory import default_max_memory_mb
from robustcheck.errors import InternalError, ModelError, RobustcheckError, RuntimeEnvironmentError
from robustcheck.reports.model import Report

if TYPE_CHECKING:
    from robustcheck.execution.shards import Partial, Shard

__all__ = ["default_max_memory_mb", "run_isolated", "run_shard_isolated", "scan_shard"]

Progress = Callable[[int, int], None]
_POLL_S = 0.1
_PRELOAD = ["robustcheck.execution.local", "numpy", "torch"]
_ORPHANED = 70


def _watch_parent(alive: Connection) -> None:
    """Exit as soon as the parent is gone: its end of ``alive`` closes when it exits in any way
    (even killed, or interrupted while it was still starting this process), and an orphaned scan
    would otherwise run on with no timeout, holding the CI job's output open."""

    def watch() -> None:
        with contextlib.suppress(EOFError, OSError):
            alive.recv()
        os._exit(_ORPHANED)

    threading.Thread(target=watch, name="robustcheck-parent-watch", daemon=True).start()


def _child(conn: Connection, alive: Connection, config: ScanConfig, shard: Shard | None) -> None:
    _watch_parent(alive)
    # torch: only this child loads the engine; the supervising parent never does
    from robustcheck.execution.local import run_here
    from robustcheck.execution.shards import run_shard

    def progress(done: int, total: int) -> None:
        conn.send(("progress", done, total))

    try:
        if shard is None:
            conn.send(("result", run_here(config, progress=progress).model_dump_json()))
        else:
            conn.send(("result", run_shard(config, shard, progress=progress).model_dump_json()))
    except RobustcheckError as exc:
        conn.send(("error", type(exc).__name__, exc.message, exc.hint, int(exc.exit_code)))
    except MemoryError:
        conn.send(("error", "RuntimeEnvironmentError", "out of memory", OUT_OF_MEMORY_HINT, 5))
    except BaseException as exc:  # everything else is a bug, reported with its traceback
        conn.send(("crash", f"{type(exc).__name__}: {exc}", traceback.format_exc()))
    finally:
        conn.close()


class _RemoteError(RobustcheckError):
    """An expected error raised in the child, re-raised in the parent with the same exit code."""


def remote_error(name: str, message: str, hint: str | None, code: int) -> RobustcheckError:
    error = _RemoteError(message, hint=hint)
    error.exit_code = type(error.exit_code)(code)
    error.remote_type = name  # type: ignore[attr-defined]
    return error


def run_isolated(
    config: ScanConfig, *, timeout_s: float, max_memory_mb: int, progress: Progress | None = None
) -> Report:
    text = _isolated(config, None, timeout_s, max_memory_mb, progress)
    return Report.model_validate_json(text)


def run_shard_isolated(
    config: ScanConfig,
    shard: Shard,
    *,
    timeout_s: float,
    max_memory_mb: int,
    progress: Progress | None = None,
) -> Partial:
    """One shard of the scan, under the same child process, timeout and memory cap."""
    from robustcheck.execution.shards import Partial  # torch: not in the supervising parent

    text = _isolated(config, shard, timeout_s, max_memory_mb, progress)
    return Partial.model_validate_json(text)


def scan_shard(config: ScanConfig, shard: Shard, progress: Progress | None = None) -> Partial:
    """One shard as the configuration says: in the isolated child (the default) or in-process."""
    from robustcheck.execution.shards import run_shard  # torch: not in the supervising parent

    if not config.isolate:
        return run_shard(config, shard, progress=progress)
    return run_shard_isolated(
        config,
        shard,
        timeout_s=config.timeout_s,
        max_memory_mb=config.max_memory_mb or default_max_memory_mb(),
        progress=progress,
    )


def _isolated(
    config: ScanConfig,
    shard: Shard | None,
    timeout_s: float,
    max_memory_mb: int,
    progress: Progress | None,
) -> str:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(_PRELOAD)
    parent, child = context.Pipe(duplex=False)
    alive_child, alive_parent = context.Pipe(duplex=False)
    process = context.Process(
        target=_child, args=(child, alive_child, config, shard), name="robustcheck-scan"
    )
    try:
        process.start()
        child.close()
        alive_child.close()
        return _supervise(process, parent, config.model, timeout_s, max_memory_mb, progress)
    finally:
        if process.pid is not None:
            if process.is_alive():
                process.kill()
            process.join()
        for conn in (parent, child, alive_child, alive_parent):
            conn.close()


def _supervise(
    process: Any,
    conn: Connection,
    model: Path,
    timeout_s: float,
    max_memory_mb: int,
    progress: Progress | None,
) -> str:
    deadline = time.monotonic() + timeout_s
    while True:
        if conn.poll(_POLL_S):
            try:
                message = conn.recv()
            except EOFError:
                raise _died(process, model) from None
            kind = message[0]
            if kind == "progress" and progress is not None:
                progress(message[1], message[2])
            elif kind == "result":
                return str(message[1])
            elif kind == "error":
                raise remote_error(*message[1:])
            elif kind == "crash":
                raise InternalError(
                    f"internal error in the scan: {message[1]}", hint=message[2].splitlines()[-1]
                )
        elif not process.is_alive():
            raise _died(process, model)
        if time.monotonic() > deadline:
            raise RuntimeEnvironmentError(
                f"--timeout: the scan of {model} did not finish within {timeout_s:g} s; stopped it"
            )
        rss = _rss_mb(process.pid)
        if rss is not None and rss > max_memory_mb:
            raise RuntimeEnvironmentError(
                f"--max-memory: the scan of {model} used {rss:.0f} MiB (limit {max_memory_mb} MiB); stopped it",
                hint=f"{OUT_OF_MEMORY_HINT}, or raise --max-memory",
            )


def _died(process: Any, model: Path) -> RobustcheckError:
    process.join(timeout=5)
    code = process.exitcode
    if code is not None and code < 0:
        name = signal.Signals(-code).name
        if -code == signal.SIGKILL:
            return RuntimeEnvironmentError(
                f"the scan of {model} was killed ({name}), most likely out of memory"
            )
        return ModelError(f"{model}: the model or its runtime crashed the scan ({name})")
    return InternalError(f"the scan of {model} exited unexpectedly (exit status {code})")


def _rss_mb(pid: int) -> float | None:
    try:
        with Path(f"/proc/{pid}/status").open() as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None
