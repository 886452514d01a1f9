"""Resumable long scans: one append-only record per finished batch.

The file starts with a fingerprint of everything that determines the numbers (model, data and
sample selection, policy, ε, attacks, batch size, seed, input contract, versions). Resuming with a
different fingerprint is refused; the final report is produced only when every batch of the scan
is present exactly once.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from robustcheck.errors import InputError, RuntimeEnvironmentError

FORMAT = "robustcheck-checkpoint/1"


def fingerprint(parts: dict[str, Any]) -> str:
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class Checkpoint:
    path: Path
    fingerprint: str
    done: dict[int, dict[str, Any]]
    """Batch start → its record, for batches finished by earlier runs."""

    @classmethod
    def open(cls, path: Path, fp: str) -> Checkpoint:
        if not path.exists():
            _append(path, {"format": FORMAT, "fingerprint": fp})
            return cls(path, fp, {})
        _drop_partial_record(path)
        lines = _read_lines(path)
        header = lines[0] if lines else {}
        if header.get("format") != FORMAT:
            raise InputError(f"--checkpoint {path}: not a robustcheck checkpoint")
        if header.get("fingerprint") != fp:
            raise InputError(
                f"--checkpoint {path}: was written by a different scan (model, data, policy, ε, "
                "settings or versions changed)",
                hint="delete it to start over",
            )
        done: dict[int, dict[str, Any]] = {}
        for record in lines[1:]:
            start = int(record["start"])
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


def _drop_partial_record(path: Path) -> None:
    """A crash can cut the last record short: drop it, so that batch is redone and appends stay whole."""
    try:
        data = path.read_bytes()
        keep = data.rfind(b"\n") + 1
        if keep < len(data):
            with path.open("r+b") as handle:
                handle.truncate(keep)
    except OSError as exc:
        raise InputError(f"--checkpoint {path}: unreadable ({exc.strerror})") from None


def _read_lines(path: Path) -> list[dict[str, Any]]:
    records = []
    try:
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError:
                    raise InputError(f"--checkpoint {path}:{number}: not a JSON record") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"--checkpoint {path}: unreadable ({exc})") from None
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
