"""Safe file access, in one place: open untrusted inputs, hash them, write outputs atomically.

Inputs: regular files only (checked on the open descriptor, so the file cannot be swapped in
between), FIFOs refused without blocking, small files size-capped, content hashed as it is read.
Outputs: written to a temporary file beside the target, fsynced, then renamed over it. A target
that exists must be a regular file (a device, FIFO, socket or folder is refused, untouched);
missing folders on the way to it are created. ``-`` is standard output.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from robustcheck.errors import DataError, InputError, RuntimeEnvironmentError

CHUNK = 1 << 20
STDOUT = "-"
"""The output path that means standard output."""
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def regular_file_stat(path: Path, what: str, error: type[InputError] = DataError) -> os.stat_result:
    """``path``'s stat, which must be an existing regular file (symlinks are followed)."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise error(f"{path}: no such {what}") from None
    except RuntimeError:  # pathlib's "Symlink loop" on some Python versions
        raise error(f"{path}: cannot read the {what} (symlink loop)") from None
    except OSError as exc:
        raise error(f"{path}: cannot read the {what} ({exc.strerror})") from None
    if stat.S_ISDIR(info.st_mode):
        raise error(f"{path}: is a directory, not a {what}")
    if not stat.S_ISREG(info.st_mode):
        raise error(f"{path}: is not a regular file")
    return info


@contextmanager
def open_regular(
    path: Path, *, follow_symlinks: bool = True, error: type[InputError] = DataError
) -> Iterator[tuple[BinaryIO, int]]:
    """``path`` opened for binary reading, with its size; refuses anything but a regular file.

    With ``follow_symlinks=False`` a symlink in the last component fails to open at all.
    """
    flags = os.O_RDONLY | getattr(os, "O_BINARY", 0) | (0 if follow_symlinks else _NOFOLLOW)
    flags |= getattr(os, "O_NONBLOCK", 0)  # a FIFO must be refused, not waited on for a writer
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise error(f"{path}: no such file") from None
    except OSError as exc:
        raise error(f"{path}: cannot open ({exc.strerror})") from None
    handle = os.fdopen(fd, "rb")
    with handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise error(f"{path}: is not a regular file")
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


def decode_text(path: Path, data: bytes) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text (byte {exc.start})") from None


def sha256_stream(handle: BinaryIO) -> str:
    digest = hashlib.sha256()
    while chunk := handle.read(CHUNK):
        digest.update(chunk)
    return digest.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file, read in chunks so large models never sit in memory twice."""
    with path.open("rb") as handle:
        return sha256_stream(handle)


def manifest_sha256(entries: Iterable[tuple[str, str]]) -> str:
    """sha256 of ``"<sha256>  <name>\\n"`` lines: what ``sha256sum`` prints, so it can be recomputed."""
    digest = hashlib.sha256()
    for name, file_hash in entries:
        digest.update(f"{file_hash}  {name}\n".encode())
    return digest.hexdigest()


def is_stdout(path: Path | str) -> bool:
    return str(path) == STDOUT


def check_output_target(path: Path, what: str = "report") -> None:
    """Refuse an existing target that is not a regular file (symlinks followed): renaming over a
    device, FIFO, socket or folder would replace it, and ``/dev/full`` would become a file."""
    try:
        info = path.stat()
    except (OSError, RuntimeError):  # missing, or unreadable: writing it says why
        return
    if not stat.S_ISREG(info.st_mode):
        raise RuntimeEnvironmentError(
            f"{path}: is {_file_kind(info.st_mode)}, not a regular file; "
            f"refusing to write the {what} there",
            hint="name a file, or - for standard output" if what == "report" else None,
        )


def _file_kind(mode: int) -> str:
    kinds = {
        stat.S_ISDIR: "a folder",
        stat.S_ISCHR: "a character device",
        stat.S_ISBLK: "a block device",
        stat.S_ISFIFO: "a FIFO",
        stat.S_ISSOCK: "a socket",
    }
    return next((name for test, name in kinds.items() if test(mode)), "a special file")


def write_text_atomic(path: Path, text: str, what: str = "report") -> None:
    """Write to a temporary file in the same directory, fsync, then rename over ``path``, which
    must not exist or be a regular file; missing folders on the way are created."""
    write_bytes_atomic(path, text.encode("utf-8"), what)


def write_bytes_atomic(path: Path, data: bytes, what: str = "report") -> None:
    """The bytes version of :func:`write_text_atomic` (models, checkpoints)."""
    check_output_target(path, what)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; outputs are for sharing
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current
