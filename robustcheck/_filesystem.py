"""Checking a path names an existing regular file, with the error class of whoever asks."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from robustcheck.errors import InputError


def regular_file_stat(path: Path, what: str, error: type[InputError]) -> os.stat_result:
    """``path``'s stat, which must be an existing regular file (symlinks are followed)."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise error(f"{path}: no such {what}") from None
    except OSError as exc:
        raise error(f"{path}: cannot read the {what} ({exc.strerror})") from None
    if stat.S_ISDIR(info.st_mode):
        raise error(f"{path}: is a directory, not a {what}")
    if not stat.S_ISREG(info.st_mode):
        raise error(f"{path}: is not a regular file")
    return info
