"""Opening untrusted files: regular files only, size-capped, hashed as they are read."""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from robustcheck.errors import DataError

CHUNK = 1 << 20
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


@contextmanager
def open_regular(path: Path, *, follow_symlinks: bool = True) -> Iterator[tuple[BinaryIO, int]]:
    """``path`` opened for binary reading, with its size; refuses anything but a regular file.

    The type is checked on the open descriptor, so the file cannot be swapped in between; with
    ``follow_symlinks=False`` a symlink in the last component fails to open at all.
    """
    flags = os.O_RDONLY | getattr(os, "O_BINARY", 0) | (0 if follow_symlinks else _NOFOLLOW)
    flags |= getattr(os, "O_NONBLOCK", 0)  # a FIFO must be refused, not waited on for a writer
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except OSError as exc:
        raise DataError(f"{path}: cannot open ({exc.strerror})") from None
    handle = os.fdopen(fd, "rb")
    with handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise DataError(f"{path}: is not a regular file")
        yield handle, info.st_size


def read_capped(path: Path, cap: int, what: str) -> bytes:
    """The whole of a small file, refused when larger than ``cap`` bytes."""
    with open_regular(path) as (handle, size):
        if size > cap:
            raise DataError(f"{path}: the {what} is {size} bytes; the limit is {cap}")
        data = handle.read(cap + 1)
    if len(data) > cap:
        raise DataError(f"{path}: the {what} grew past the {cap}-byte limit while being read")
    return data


def sha256_stream(handle: BinaryIO) -> str:
    digest = hashlib.sha256()
    while chunk := handle.read(CHUNK):
        digest.update(chunk)
    return digest.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def manifest_sha256(entries: Iterable[tuple[str, str]]) -> str:
    """sha256 of ``"<sha256>  <name>\\n"`` lines: what ``sha256sum`` prints, so it can be recomputed."""
    digest = hashlib.sha256()
    for name, file_hash in entries:
        digest.update(f"{file_hash}  {name}\n".encode())
    return digest.hexdigest()


def decode_text(path: Path, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text (byte {exc.start})") from None
