"""Walking an untrusted image folder: no symlinks, no special files, nothing outside the root."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path, PurePath

from robustcheck.errors import DataError, SecurityRefusal

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


@dataclass(frozen=True)
class Entry:
    name: str
    path: Path
    is_dir: bool


def entries(root: Path, directory: Path) -> list[Entry]:
    """The visible entries of ``directory`` sorted by name; hidden ones (``.name``) are skipped.

    Symlinks are refused: one leading outside ``root`` is a :class:`SecurityRefusal`, one inside it
    a :class:`DataError` (robustcheck reads each file where it lies, so a dataset hashes and reads
    the same everywhere). Sockets, FIFOs and devices are refused too.
    """
    try:
        with os.scandir(directory) as listing:
            found = sorted((e for e in listing if not e.name.startswith(".")), key=lambda e: e.name)
    except OSError as exc:
        raise DataError(f"{directory}: cannot list the folder ({exc.strerror})") from None
    out = []
    for item in found:
        path = Path(item.path)
        if item.is_symlink():
            refuse_symlink(root, path)
        if item.is_dir(follow_symlinks=False):
            out.append(Entry(item.name, path, True))
        elif item.is_file(follow_symlinks=False):
            out.append(Entry(item.name, path, False))
        else:
            raise DataError(f"{path}: is not a regular file or folder")
    return out


def refuse_symlink(root: Path, path: Path) -> None:
    try:
        target = path.resolve()
    except (RuntimeError, OSError):  # a loop: RuntimeError before Python 3.13, ELOOP after
        raise DataError(
            f"{path}: is a symlink loop; symlinks inside an image folder are not followed"
        ) from None
    if target == root.resolve() or root.resolve() in target.parents:
        raise DataError(f"{path}: is a symlink; symlinks inside an image folder are not followed")
    raise SecurityRefusal(f"{path}: is a symlink that leads outside {root}")


def is_image_name(name: str) -> bool:
    return name.lower().endswith(IMAGE_SUFFIXES)


def member(root: Path, name: str, where: str) -> Path:
    """The file a labels list names, relative to ``root``: no escaping, no symlinks on the way."""
    relative = PurePath(name)
    if relative.is_absolute() or ".." in relative.parts or relative.anchor:
        raise SecurityRefusal(f"{where}: {name!r} points outside {root}")
    if not relative.parts or relative.parts == (".",):
        raise DataError(f"{where}: empty file name")
    current = root
    for part in relative.parts:
        current = current / part
        try:
            info = current.lstat()
        except FileNotFoundError:
            raise DataError(f"{where}: {current} does not exist") from None
        except OSError as exc:
            raise DataError(f"{where}: cannot read {current} ({exc.strerror})") from None
        if stat.S_ISLNK(info.st_mode):
            refuse_symlink(root, current)
    if not stat.S_ISREG(info.st_mode):
        raise DataError(f"{current}: is not a regular file")
    return current


def relative_name(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix()
