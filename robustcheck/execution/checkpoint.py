"""Resumable long scans: one append-only record per finished batch.

The file starts with a fingerprint of everything that determines the numbers (model, data and
sample selection, policy, ε, attacks, batch size, seed, input contract, versions). Resuming with a
different fingerprint is refused; the final report is produced only when every batch of the scan
is present exactly once.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from robustcheck.errors import InputError, RuntimeEnvironmentError

FORMAT = "robustcheck-checkpoint/2"
"""2: exact fixed-point confidence sums (a /1 file is refused: its batches are redone)."""


@dataclass
class Checkpoint:
    path: Path
    fingerprint: str
    done: dict[int, dict[str, Any]]
    """Batch start → its record, for batches finished by earlier runs."""

    @classmethod
    def open(cls, path: Path, fp: str) -> Checkpoint:
        if not os.path.lexists(path):
            _append(path, {"format": FORMAT, "fingerprint": fp})
            return cls(path, fp, {})
        lines = _parse(path, _read_whole_records(path, fp))
        done: dict[int, dict[str, Any]] = {}
        for number, record in enumerate(lines[1:], start=2):
            start = record.get("start")
            if not isinstance(start, int) or isinstance(start, bool):
                raise InputError(f"--checkpoint {path}:{number}: a record without a batch start")
            if start in done:
                raise InputError(f"--checkpoint {path}: batch {start} is recorded twice")
            done[start] = record
        return cls(path, fp, done)

    def record(self, start: int, state: dict[str, Any]) -> None:
        _append(self.path, {"start": start, **state})

    def verify_complete(self, starts: list[int]) -> None:
        recorded = sorted(self.done)
        missing = sorted(set(starts) - set(recorded))
        extra = sorted(set(recorded) - set(starts))
        if missing or extra:
            raise InputError(
                f"--checkpoint {self.path}: batches do not match the scan "
                f"(missing {missing[:3]}, unexpected {extra[:3]})"
            )


def _read_whole_records(path: Path, fp: str) -> bytes:
    """The checkpoint's complete records. A crash can cut the last one short: once the file is
    known to be this scan's checkpoint, that record is dropped from it, so the batch is redone and
    later appends stay whole; a file that is not is never modified. Only a regular file is read (a
    FIFO or a device would block or never end), and a symlink is not followed."""
    flags = os.O_RDWR | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise InputError(f"--checkpoint {path}: cannot open ({exc.strerror})") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise InputError(f"--checkpoint {path}: is not a regular file")
        with os.fdopen(os.dup(fd), "rb") as handle:
            data = handle.read()
        keep = data.rfind(b"\n") + 1
        _check_header(path, data[: data.find(b"\n") + 1 or len(data)], fp)
        if keep < len(data):
            os.ftruncate(fd, keep)
    except OSError as exc:
        raise InputError(f"--checkpoint {path}: unreadable ({exc.strerror})") from None
    finally:
        os.close(fd)
    return data[:keep]


def _check_header(path: Path, line: bytes, fp: str) -> None:
    try:
        header = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError):
        header = None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise InputError(f"--checkpoint {path}: not a robustcheck checkpoint")
    if header.get("fingerprint") != fp:
        raise InputError(
            f"--checkpoint {path}: was written by a different scan (model, data, policy, ε, "
            "settings or versions changed)",
            hint="delete it to start over",
        )


def _parse(path: Path, data: bytes) -> list[dict[str, Any]]:
    records = []
    for number, line in enumerate(data.splitlines(), start=1):
        try:
            record = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            record = None
        if not isinstance(record, dict):
            raise InputError(f"--checkpoint {path}:{number}: not a JSON record")
        records.append(record)
    return records


def _append(path: Path, record: dict[str, Any]) -> None:
    try:
        with path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(record, sort_keys=True) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        raise RuntimeEnvironmentError(
            f"--checkpoint {path}: cannot write ({exc.strerror})"
        ) from None
