"""Choosing a data loader by file type."""

from __future__ import annotations

import stat
from pathlib import Path

from robustcheck._hashing import file_sha256
from robustcheck.data.base import Dataset
from robustcheck.data.npz import load_npz
from robustcheck.errors import DataError


def load_dataset(path: Path, *, x_key: str = "x", y_key: str = "y") -> Dataset:
    try:
        info = path.stat()
    except FileNotFoundError:
        raise DataError(f"{path}: no such data file") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot read the data file ({exc.strerror})") from None
    if not stat.S_ISREG(info.st_mode):
        raise DataError(f"{path}: is not a regular file")
    if path.suffix.lower() != ".npz":
        raise DataError(
            f"{path}: unsupported data format {path.suffix or '(none)'!r}",
            hint="save inputs and labels with numpy.savez(path, x=inputs, y=labels)",
        )
    return load_npz(path, file_sha256(path), x_key=x_key, y_key=y_key)
