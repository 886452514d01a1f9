"""The hostile-input case type, the shared files every case may read, and the argv helpers.

A case builds its hostile files into its own ``tmp_path`` at test time (nothing hostile is
committed) and returns the ``robustcheck`` argv that should fail closed on them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from robustcheck.exit_codes import ExitCode
from robustcheck.settings import ScanSettings, flags

OK = {int(ExitCode.OK)}
FAILED = {int(ExitCode.POLICY_FAILED)}
USAGE = {int(ExitCode.USAGE_ERROR)}
INPUT = {int(ExitCode.INPUT_ERROR)}
SECURITY = {int(ExitCode.SECURITY_REFUSAL)}
ENVIRONMENT = {int(ExitCode.ENVIRONMENT_ERROR)}
INTERRUPTED = {130}
TERMINATED = {143}

REPORT = "report.json"
"""Every scan a case builds with :func:`scan` writes its JSON report here (relative to tmp)."""
TIMEOUT_S = "50"
"""``--timeout`` of every scan: a hostile model cannot hold a case past its 60 s bound."""
REPORT_FLAGS = tuple(f.shown(n) for n, f in flags(ScanSettings).items() if f.kind == "report")
"""The built-in formats' own flags (``--json``, ``--junit``, ...)."""
OUTPUT_FLAGS = (*REPORT_FLAGS, "--checkpoint")
"""Flags naming files a scan may write: the tree snapshot leaves them out (and the PATH of
``--report FORMAT=PATH``)."""


@dataclass(frozen=True)
class Shared:
    """Files built once per session; cases read them and must never change them."""

    roots: tuple[Path, ...]
    """Folders holding the shared files (snapshotted around every case)."""
    cnn_pt: Path
    cnn_pt2: Path
    linear_pt: Path
    linear_onnx: Path
    spin_pt: Path
    """TorchScript whose forward spins for minutes: a scan that is reliably still running."""
    npz: Path
    x: np.ndarray
    """The digits test inputs, float32 ``[N, 1, 8, 8]`` in [0, 1]."""
    y: np.ndarray
    linear_weights: np.ndarray
    """``[64, 10]`` weights of the linear model, for hand-built ONNX graphs."""


Build = Callable[[Path, Shared], list[str]]
Verify = Callable[[Path, Shared], None]


@dataclass(frozen=True)
class Case:
    name: str
    build: Build
    expected: set[int]
    """Acceptable exit codes."""
    message_contains: str | None
    """Text the single stderr line must contain; ``{tmp}`` is the case's tmp_path."""
    env: Mapping[str, str] = field(default_factory=dict)
    """Environment variables for the run; ``{tmp}`` is the case's tmp_path."""
    signal: int | None = None
    """Run as a subprocess and deliver this signal once the scan has started."""
    signal_group: bool = False
    """Deliver the signal to the whole process group (Ctrl-C in a terminal) instead."""
    signal_when: str = "stub"
    """``stub``: as soon as the report stub exists (the scan is starting); ``scan``: once the
    isolated scan process is running the model."""
    no_orphans: bool = False
    """Also require that no process of the run outlives it (a scan left spinning, a forkserver)."""
    verify: Verify | None = None
    """Further checks after the run (e.g. that a must-work case measured the right thing)."""
    bug: str | None = None
    """A known robustcheck bug this case exposes (what is wrong, where): the case is a strict xfail
    until it is fixed. None today; the nine the suite first found are fixed."""


def scan(
    tmp: Path, model: Path | str, data: Path | str, *extra: str, report: bool = True
) -> list[str]:
    """``robustcheck scan MODEL --data DATA --eps 0.1 --timeout 50 [--json tmp/report.json]``."""
    argv = ["scan", str(model), "--data", str(data), "--eps", "0.1", "--timeout", TIMEOUT_S]
    if report:
        argv += ["--json", str(tmp / REPORT)]
    return [*argv, *extra]


def write(path: Path, content: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return path


def random_bytes(n: int, seed: int = 0) -> bytes:
    return np.random.default_rng(seed).bytes(n)
