"""Class names from a text file (``--class-names FILE``): one name per line, label 0 first."""

from __future__ import annotations

from pathlib import Path

from robustcheck.errors import DataError
from robustcheck.files import decode_text, read_capped

MAX_BYTES = 4 << 20
MAX_NAME = 200


def read_class_names(path: Path) -> tuple[str, ...]:
    text = decode_text(path, read_capped(path, MAX_BYTES, "class-names file"))
    names = tuple(line.strip() for line in text.splitlines() if line.strip())
    if not names:
        raise DataError(f"{path}: no class names (expected one per line, label 0 first)")
    for number, name in enumerate(names, 1):
        if len(name) > MAX_NAME:
            raise DataError(f"{path}: name {number} is longer than {MAX_NAME} characters")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise DataError(f"{path}: class name {repeated[0]!r} appears twice")
    return names
