"""Run one generated scenario in-process and check the property; used by the test and `make fuzz`."""

from __future__ import annotations

import contextlib
import io
import os
import stat
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from fuzz._generate import OK_CODES, Scenario, scenario

from robustcheck.cli import main


@dataclass(frozen=True)
class Outcome:
    seed: int
    code: int
    err: str
    case: Scenario
    problems: list[str]


def run_case(seed: int, root: Path) -> Outcome:
    """Build scenario ``seed`` under ``root`` (an empty folder), run it, check the property."""
    root.mkdir(parents=True, exist_ok=True)
    case = scenario(seed, root)
    before = _snapshot(root, case.outputs)
    out, err = io.StringIO(), io.StringIO()
    cwd = Path.cwd()
    os.chdir(root)  # a relative write lands in the snapshot
    try:
        with (
            _native_stderr() as native,
            contextlib.redirect_stdout(out),
            contextlib.redirect_stderr(err),
        ):
            code = main(case.argv)
    finally:
        os.chdir(cwd)
    problems = _check(case, code, out.getvalue(), err.getvalue())
    if native.getvalue().strip():  # onnxruntime's or torch's own logging, past Python
        problems.append(f"a library wrote to stderr: {native.getvalue().strip()[:200]!r}")
    changed = _changes(before, _snapshot(root, case.outputs))
    if changed:
        problems.append(f"files outside the outputs changed: {changed[:5]}")
    return Outcome(seed, code, err.getvalue().strip(), case, problems)


@contextlib.contextmanager
def _native_stderr() -> Iterator[io.StringIO]:
    """File descriptor 2 captured: what C++ libraries log goes there, not through sys.stderr."""
    captured = io.StringIO()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield captured
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            captured.write(sink.read().decode(errors="replace"))


def _check(case: Scenario, code: int, out: str, err: str) -> list[str]:
    problems = []
    if code not in OK_CODES:
        problems.append(f"exit {code}")
    if "Traceback" in out or "Traceback" in err:
        problems.append("a traceback was shown")
    finished = f"verdict: ERROR (exit {code})" in out + err  # a rule could not be evaluated
    if code >= 2 and not finished:
        lines = err.strip().splitlines()
        if len(lines) != 1 or not lines[0].startswith("robustcheck: error: "):
            problems.append(f"{len(lines)} lines on stderr for an error")
    if case.never_pass and code in (0, 1):
        problems.append(f"exit {code}, though this scan must not produce a verdict")
    if case.expect is not None and code not in case.expect:
        problems.append(f"exit {code}, expected one of {sorted(case.expect)}")
    for path in case.special:
        if not path.exists() or stat.S_ISREG(path.stat().st_mode):  # links are followed
            problems.append(f"{path}: the special report target was replaced")
    return problems


def _snapshot(root: Path, outputs: set[Path]) -> dict[str, tuple]:
    skip = set(outputs) | {parent for path in outputs for parent in path.parents}
    state: dict[str, tuple] = {}
    for folder, dirs, files in os.walk(root):
        for name in [*dirs, *files]:
            path = Path(folder) / name
            if path in skip:
                continue
            info = path.lstat()
            kind = stat.S_IFMT(info.st_mode)
            state[str(path)] = (
                (kind,) if stat.S_ISDIR(kind) else (kind, info.st_size, info.st_mtime_ns)
            )
    return state


def _changes(before: dict[str, tuple], after: dict[str, tuple]) -> list[str]:
    changes = [f"created {p}" for p in sorted(after.keys() - before.keys())]
    changes += [f"removed {p}" for p in sorted(before.keys() - after.keys())]
    return changes + [
        f"changed {p}" for p in sorted(before.keys() & after.keys()) if before[p] != after[p]
    ]


def campaign(
    first: int, cases: int, *, verbose: bool = False
) -> tuple[Counter[int], list[Outcome], float]:
    """Run ``cases`` scenarios from seed ``first``: the exit-code histogram, failures, seconds."""
    histogram: Counter[int] = Counter()
    failures = []
    start = time.perf_counter()
    for seed in range(first, first + cases):
        with tempfile.TemporaryDirectory(prefix=f"fuzz-{seed}-") as folder:
            outcome = run_case(seed, Path(folder) / "case")
        histogram[outcome.code] += 1
        if verbose:
            print(f"{seed} exit {outcome.code} {outcome.case.tags} {outcome.err[-200:]}")
        if outcome.problems:
            failures.append(outcome)
    return histogram, failures, time.perf_counter() - start
