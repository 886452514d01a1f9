"""Which images an image folder holds, their labels and the class index order."""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from robustcheck.data import limits
from robustcheck.data._tree import entries, is_image_name, member, refuse_symlink
from robustcheck.data.labels import parse_int
from robustcheck.data.options import ClassOrder
from robustcheck.errors import DataError
from robustcheck.files import decode_text, read_capped, sha256_bytes

CLASSES_FILE = "classes.txt"


@dataclass(frozen=True)
class ClassIndex:
    names: tuple[str, ...]

    def index(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.names)}


@dataclass(frozen=True)
class Listing:
    files: list[Path]
    y: np.ndarray
    y_key: str
    classes: ClassIndex | None
    extra_hashes: list[tuple[str, str]] = field(default_factory=list)
    """(name, sha256) of the metadata files that shaped the labels."""
    notes: tuple[str, ...] = ()


def folder_listing(root: Path, order: ClassOrder | None) -> Listing:
    """``root/<class>/<image>``: one sub-folder per class."""
    top = entries(root, root)
    stray = [e for e in top if not e.is_dir and is_image_name(e.name)]
    if stray:
        raise DataError(
            f"{stray[0].path}: an image directly in the image folder",
            hint="put images in one sub-folder per class, or list them in labels.csv",
        )
    folders = {e.name: e.path for e in top if e.is_dir}
    if not folders:
        raise DataError(f"{root}: no class sub-folders (expected {root}/<class>/*.png)")
    classes, hashes = class_index(root, list(folders), order)
    files: list[Path] = []
    labels: list[int] = []
    for index, name in enumerate(classes.names):
        if name not in folders:
            continue
        images = _class_images(root, folders[name])
        files.extend(images)
        labels.extend([index] * len(images))
        if len(files) > limits.MAX_IMAGE_FILES:
            raise DataError(f"{root}: more than {limits.MAX_IMAGE_FILES} images")
    notes: tuple[str, ...] = ()
    absent = len(classes.names) - len(folders)
    if absent:
        notes = (f"{absent} of the {len(classes.names)} classes in {CLASSES_FILE} have no folder",)
    y = np.asarray(labels, dtype=np.int64)
    return Listing(files, y, "class folders", classes, hashes, notes)


def _class_images(root: Path, folder: Path) -> list[Path]:
    images = []
    for entry in entries(root, folder):
        if entry.is_dir:
            raise DataError(f"{entry.path}: nested folders are not read; expected images only")
        if not is_image_name(entry.name):
            raise DataError(f"{entry.path}: not a .png, .jpg or .jpeg file")
        images.append(entry.path)
    if not images:
        raise DataError(f"{folder}: empty class folder")
    return images


def flat_listing(root: Path, labels_path: Path, order: ClassOrder | None) -> Listing:
    """Images named in a ``filename,label`` list, in the list's order."""
    data = read_capped(labels_path, limits.MAX_TEXT_FILE_BYTES, "labels file")
    where = str(labels_path)
    rows = _rows(labels_path, decode_text(labels_path, data))
    if not rows:
        raise DataError(f"{labels_path}: no images listed")
    files: list[Path] = []
    cells: list[str] = []
    seen: set[Path] = set()
    for line, name, label in rows:
        path = member(root, name, f"{where}: line {line}")
        if path in seen:
            raise DataError(f"{where}: line {line}: {name!r} is listed twice")
        seen.add(path)
        files.append(path)
        cells.append(label)
    hashes = [(_hash_name(root, labels_path), sha256_bytes(data))]
    ints = [parse_int(cell) for cell in cells]
    if all(value is not None for value in ints):
        classes, more = _optional_classes(root, order)
        y = np.asarray(ints, dtype=np.int64)
        _check_indices(labels_path, rows, y, classes)
    else:
        classes, more = class_index(root, sorted(set(cells)), order)
        lookup = classes.index()
        y = np.asarray([lookup[cell] for cell in cells], dtype=np.int64)
    return Listing(files, y, where, classes, [*more, *hashes])


def default_labels_file(root: Path) -> Path | None:
    """``root/labels.csv`` or ``root/labels.tsv``, the flat layout's list, when there is one."""
    found = []
    for name in ("labels.csv", "labels.tsv"):
        path = root / name
        if path.is_symlink():
            refuse_symlink(root, path)
        if path.exists():
            found.append(path)
    if len(found) > 1:
        raise DataError(f"{root}: both labels.csv and labels.tsv are present; keep one")
    return found[0] if found else None


def _rows(path: Path, text: str) -> list[tuple[int, str, str]]:
    """(line, filename, label) for every non-blank row, skipping a ``filename,label`` header."""
    reader = csv.reader(
        io.StringIO(text, newline=""), delimiter="\t" if path.suffix.lower() == ".tsv" else ","
    )
    rows: list[tuple[int, str, str]] = []
    try:
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            if not rows and [cell.strip().lower() for cell in row] == ["filename", "label"]:
                continue
            if len(row) != 2:
                raise DataError(
                    f"{path}: line {reader.line_num}: {len(row)} cells; expected filename,label"
                )
            rows.append((reader.line_num, row[0].strip(), row[1].strip()))
            if len(rows) > limits.MAX_IMAGE_FILES:
                raise DataError(f"{path}: lists more than {limits.MAX_IMAGE_FILES} images")
    except csv.Error as exc:
        raise DataError(f"{path}: line {reader.line_num}: malformed CSV ({exc})") from None
    return rows


def _check_indices(
    path: Path, rows: list[tuple[int, str, str]], y: np.ndarray, classes: ClassIndex | None
) -> None:
    for (line, _, _), value in zip(rows, y, strict=True):
        if value < 0 or value > limits.MAX_LABEL:
            raise DataError(f"{path}: line {line}: class index {value} is out of range")
        if classes is not None and value >= len(classes.names):
            raise DataError(
                f"{path}: line {line}: class index {value}, but {CLASSES_FILE} lists "
                f"{len(classes.names)} classes"
            )


def class_index(
    root: Path, present: list[str], order: ClassOrder | None
) -> tuple[ClassIndex, list[tuple[str, str]]]:
    """Class names in index order: from ``classes.txt`` or sorted, with its hash when read."""
    listed, hashes = _optional_classes(root, order)
    if listed is None:
        return ClassIndex(tuple(sorted(present))), []
    known = set(listed.names)
    missing = [name for name in present if name not in known]
    if missing:
        raise DataError(f"{root / CLASSES_FILE}: does not list class {missing[0]!r}")
    return listed, hashes


def _optional_classes(
    root: Path, order: ClassOrder | None
) -> tuple[ClassIndex | None, list[tuple[str, str]]]:
    path = root / CLASSES_FILE
    if path.is_symlink():
        refuse_symlink(root, path)
    exists = path.exists()
    if order == "sorted" or (order is None and not exists):
        return None, []
    if not exists:
        raise DataError(f"{path}: no such file, and --class-order file needs it")
    data = read_capped(path, limits.MAX_CLASSES_FILE_BYTES, "classes file")
    names = [line.strip() for line in decode_text(path, data).splitlines() if line.strip()]
    if not names:
        raise DataError(f"{path}: lists no classes")
    duplicates = sorted(name for name, count in Counter(names).items() if count > 1)
    if duplicates:
        raise DataError(f"{path}: lists class {duplicates[0]!r} twice")
    return ClassIndex(tuple(names)), [(CLASSES_FILE, sha256_bytes(data))]


def _hash_name(root: Path, path: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.name
