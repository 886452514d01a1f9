"""Every hostile input fails closed: the right exit code, one line naming the culprit, no
traceback, no report claiming PASS, no stray files, and a bounded run time.

The table is ``CASES``; each case generates its hostile files into its own tmp_path.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import select
import signal
import stat
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import pytest
from hostile import _cli, _csv, _data, _external, _images, _models, _policies
from hostile._case import OUTPUT_FLAGS, Case, Shared

from robustcheck.cli import main

CASES: list[Case] = [
    *_models.CASES,
    *_external.CASES,
    *_data.CASES,
    *_csv.CASES,
    *_images.CASES,
    *_policies.CASES,
    *_cli.CASES,
]
MAX_SECONDS = 60
QUIET_WARNINGS = (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning)
"""Categories Python does not show a CLI user by default; anything else is an extra stderr line."""


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


def _params() -> list:
    names = [case.name for case in CASES]
    assert len(names) == len(set(names)), "case names must be unique"
    return [
        pytest.param(
            case,
            id=case.name,
            marks=[pytest.mark.xfail(strict=True, reason=case.bug)] if case.bug else [],
        )
        for case in CASES
    ]


def test_the_table_has_at_least_80_cases():
    assert len(CASES) >= 80


@pytest.mark.parametrize("case", _params())
def test_hostile_input_fails_closed(case: Case, shared: Shared, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # anything written to a relative path lands in the snapshot
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)  # never the real CI summary
    argv = case.build(tmp_path, shared)
    env = {key: value.replace("{tmp}", str(tmp_path)) for key, value in case.env.items()}
    outputs = _declared_outputs(argv, env, tmp_path)
    roots = (tmp_path, *shared.roots)
    before = _snapshot(roots, outputs)
    written_before = {path: _stamp(path) for path in outputs}

    start = time.monotonic()
    if case.signal is None:
        result = _run_in_process(argv, env, capsys, monkeypatch)
    else:
        result = _run_and_signal(case, argv, env, tmp_path)
    elapsed = time.monotonic() - start

    _assert_fails_closed(case, result, tmp_path)
    _assert_reports_do_not_pass(result, outputs, written_before, argv)
    after = _snapshot(roots, outputs)
    assert _changes(before, after) == [], "files outside the declared outputs changed"
    assert elapsed < MAX_SECONDS, f"took {elapsed:.1f} s"
    if case.verify is not None:
        case.verify(tmp_path, shared)


def _assert_fails_closed(case: Case, result: Result, tmp: Path) -> None:
    detail = f"exit {result.code}\nstdout: {result.out[-2000:]}\nstderr: {result.err[-2000:]}"
    assert result.code in case.expected, detail
    assert "Traceback" not in result.out and "Traceback" not in result.err, detail
    if result.code >= 2:
        lines = result.err.strip().splitlines()
        assert len(lines) == 1, detail
        if case.message_contains is not None:
            assert case.message_contains.replace("{tmp}", str(tmp)) in lines[0], detail
    if 0 not in case.expected:
        assert "verdict: PASS" not in result.out, detail


def _assert_reports_do_not_pass(
    result: Result, outputs: set[Path], before: dict[Path, tuple], argv: list[str]
) -> None:
    """A report written by this run never says pass unless the run passed, nor disagrees with it."""
    json_paths = {_absolute(v, Path.cwd()) for f, v in itertools.pairwise(argv) if f == "--json"}
    for path in outputs:
        if _stamp(path) == before[path] or not path.is_file():
            continue  # not written by this run
        text = path.read_text(encoding="utf-8", errors="replace")
        if path in json_paths:
            report = json.loads(text)
            if report["complete"]:
                assert report["exit_code"] == result.code, f"{path}: {text[:300]}"
            else:
                assert report["verdict"] == "error", f"{path}: {text[:300]}"
                assert report["exit_code"] in (None, result.code), f"{path}: {text[:300]}"
            if result.code != 0:
                assert not (report["complete"] and report["verdict"] == "pass"), text[:300]
        elif result.code != 0:
            assert "robustcheck: PASS" not in text, f"{path}: {text[:300]}"


def _run_in_process(argv: list[str], env: dict[str, str], capsys, monkeypatch) -> Result:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    capsys.readouterr()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        code = main(argv)
    captured = capsys.readouterr()
    shown = [
        f"{w.category.__name__}: {w.message}"
        for w in caught
        if not issubclass(w.category, QUIET_WARNINGS)
    ]
    err = captured.err + "".join(f"{line}\n" for line in shown)
    return Result(code, captured.out, err)


def _run_and_signal(case: Case, argv: list[str], env: dict[str, str], tmp: Path) -> Result:
    """``python -m robustcheck`` in its own session, signalled once the scan has started.

    Output goes to unlinked temporary files, not pipes: a process left behind holding a pipe
    would otherwise keep the test waiting for an end of file that never comes.
    """
    stub = _absolute(argv[argv.index("--json") + 1], tmp)
    full_env = {k: v for k, v in os.environ.items() if k != "GITHUB_STEP_SUMMARY"} | env
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "robustcheck", *argv],
            cwd=tmp,
            env=full_env,
            stdout=out,
            stderr=err,
            text=True,
            start_new_session=True,
        )
        try:
            if _wait_until_started(proc, stub, case.signal_when):
                if case.signal_group:
                    os.killpg(proc.pid, case.signal)
                else:
                    proc.send_signal(case.signal)
            code = proc.wait(timeout=MAX_SECONDS - 10)
            left = _lingering(proc.pid) if case.no_orphans else []
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.kill()
            proc.wait()
        out.seek(0)
        err.seek(0)
        result = Result(code, out.read(), err.read())
    assert left == [], f"processes outlived the run: {left}\n{result.err}"
    return result


def _wait_until_started(proc: subprocess.Popen, stub: Path, when: str) -> bool:
    """Poll (bounded) until the stub exists, and for ``scan`` until the scan process has run
    for a few polls; False when the run ended first (the assertions then say why)."""
    deadline = time.monotonic() + MAX_SECONDS - 10
    seen_running = 0
    while time.monotonic() < deadline:
        if stub.exists():
            if when == "stub":
                return True
            seen_running = seen_running + 1 if _scan_processes(proc.pid) else 0
            if seen_running >= 5:
                return True
        try:
            proc.wait(timeout=0.05)
            return False
        except subprocess.TimeoutExpired:
            pass
    raise AssertionError(f"the scan did not start within {MAX_SECONDS - 10} s")


def _lingering(session: int, wait_s: float = 5.0) -> list[str]:
    """Processes of ``session`` still alive ``wait_s`` after its leader exited (orphaned scans)."""
    left = []
    deadline = time.monotonic() + wait_s
    for pid in _session_members(session):
        try:
            fd = os.pidfd_open(pid)
        except ProcessLookupError:
            continue
        try:
            ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        finally:
            os.close(fd)
        if not ready:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
            left.append(f"{pid}: {cmdline.decode(errors='replace')[:120]}")
    return left


def _scan_processes(session: int) -> list[int]:
    """Grandchildren of the session leader: the isolated scan, forked by the forkserver."""
    parents = _session_members(session, parents=True)
    return [pid for pid, ppid in parents.items() if ppid in parents and ppid != session]


def _session_members(session: int, *, parents: bool = False):
    """Live (not zombie) processes of ``session``: a list of pids, or pid → parent pid."""
    members: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == session and fields[0] != "Z":
            members[int(entry.name)] = int(fields[1])
    return members if parents else list(members)


def _declared_outputs(argv: list[str], env: dict[str, str], cwd: Path) -> set[Path]:
    outputs = {_absolute(v, cwd) for f, v in itertools.pairwise(argv) if f in OUTPUT_FLAGS}
    outputs |= {
        _absolute(v.partition("=")[2], cwd)
        for f, v in itertools.pairwise(argv)
        if f == "--report" and "=" in v
    }
    if "GITHUB_STEP_SUMMARY" in env:
        outputs.add(_absolute(env["GITHUB_STEP_SUMMARY"], cwd))
    return outputs


def _absolute(value: str, cwd: Path) -> Path:
    return Path(os.path.normpath(cwd / value))


def _stamp(path: Path) -> tuple:
    try:
        info = path.lstat()
    except OSError:
        return ()
    return (info.st_mode, info.st_size, info.st_mtime_ns, info.st_ino)


def _snapshot(roots: tuple[Path, ...], outputs: set[Path]) -> dict[str, tuple]:
    """Every entry under ``roots`` except the outputs and the folders that lead to them."""
    skip = set(outputs) | {parent for path in outputs for parent in path.parents}
    state: dict[str, tuple] = {}
    for root in roots:
        for folder, dirs, files in os.walk(root):
            for name in [*dirs, *files]:
                path = Path(folder) / name
                if path in skip:
                    continue
                info = path.lstat()
                if stat.S_ISDIR(info.st_mode):
                    state[str(path)] = ("dir",)
                else:
                    state[str(path)] = (stat.S_IFMT(info.st_mode), info.st_size, info.st_mtime_ns)
    return state


def _changes(before: dict[str, tuple], after: dict[str, tuple]) -> list[str]:
    changes = [f"created {p}" for p in sorted(after.keys() - before.keys())]
    changes += [f"removed {p}" for p in sorted(before.keys() - after.keys())]
    changes += [
        f"changed {p}" for p in sorted(before.keys() & after.keys()) if before[p] != after[p]
    ]
    return changes
