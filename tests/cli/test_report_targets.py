"""Report targets: an existing non-regular file is refused untouched, ``-`` is standard output,
missing folders are created."""

from __future__ import annotations

import json
import os
import socket
import stat
from pathlib import Path

import pytest

from robustcheck.cli import main
from robustcheck.exit_codes import ExitCode


def _scan(capsys, model, data, *report: str | Path) -> tuple[int, str, str]:
    argv = ["scan", str(model), "--data", str(data), "--eps", "0.1", "--no-isolation"]
    code = main([*argv, *map(str, report)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _fifo(tmp: Path) -> Path:
    os.mkfifo(tmp / "pipe")
    return tmp / "pipe"


def _socket(tmp: Path) -> Path:
    path = tmp / "sock"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.close()
    return path


def _folder(tmp: Path) -> Path:
    (tmp / "reports").mkdir()
    return tmp / "reports"


def _link_to_fifo(tmp: Path) -> Path:
    (tmp / "link").symlink_to(_fifo(tmp))
    return tmp / "link"


@pytest.mark.parametrize("flag", ["--json", "--junit", "--markdown", "--html"])
@pytest.mark.parametrize("special", [_fifo, _socket, _folder, _link_to_fifo])
def test_an_existing_target_that_is_not_a_regular_file_is_refused_untouched(
    capsys, linear_model, digits_npz, tmp_path, flag, special
):
    target = special(tmp_path)
    before = _tree(tmp_path)
    code, _, err = _scan(capsys, linear_model.torchscript, digits_npz, flag, target)
    assert code == ExitCode.ENVIRONMENT_ERROR, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and f"{flag} {target}: is a" in lines[0], err
    assert _tree(tmp_path) == before


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    """Every entry under ``root``: its type and inode (a replaced file gets a new one)."""
    entries = {}
    for path in root.rglob("*"):
        info = path.lstat()
        entries[str(path)] = (stat.S_IFMT(info.st_mode), info.st_ino)
    return entries


def test_dash_writes_the_report_to_standard_output_alone(capsys, linear_model, digits_npz):
    code, out, err = _scan(capsys, linear_model.torchscript, digits_npz, "--json", "-")
    report = json.loads(out)
    assert report["complete"] and report["exit_code"] == code
    assert "verdict:" in err and "json report: standard output" in err


def test_dash_gets_the_error_stub_when_the_scan_fails(capsys, tmp_path, digits_npz):
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a model")
    code, out, err = _scan(capsys, broken, digits_npz, "--json", "-")
    assert code == ExitCode.INPUT_ERROR
    stub = json.loads(out)
    assert stub["complete"] is False and stub["exit_code"] == code
    assert len(err.strip().splitlines()) == 1


def test_two_formats_cannot_both_be_standard_output(capsys, linear_model, digits_npz):
    code, _, err = _scan(
        capsys, linear_model.torchscript, digits_npz, "--json", "-", "--markdown", "-"
    )
    assert code == ExitCode.USAGE_ERROR and "same file" in err


def test_missing_report_folders_are_created(capsys, linear_model, digits_npz, tmp_path):
    target = tmp_path / "a" / "b" / "report.json"
    code, _, err = _scan(capsys, linear_model.torchscript, digits_npz, "--json", target)
    assert code in (ExitCode.OK, ExitCode.POLICY_FAILED), err
    assert json.loads(target.read_text())["complete"]
