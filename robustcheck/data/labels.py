"""Class labels from a separate file: ``.npy`` (1-D integers), ``.txt`` (one per line) or ``.csv``.

A ``.csv``/``.tsv`` holds one column of integers, optionally under a header row; with several
columns the header must name one ``label``.
"""

from __future__ import annotations

import csv
import io
import re
from array import array
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from robustcheck.data import limits
from robustcheck.data._checks import check_labels
from robustcheck.data._npyformat import read_header
from robustcheck.errors import DataError, quoted
from robustcheck.files import decode_text, open_regular, read_capped, sha256_bytes

_INTEGRAL = re.compile(r"[+-]?[0-9]+(\.0*)?")
LABEL_SUFFIXES = (".npy", ".txt", ".csv", ".tsv")


@dataclass(frozen=True)
class Labels:
    y: np.ndarray
    sha256: str


def parse_int(text: str) -> int | None:
    """The integer ``text`` spells (``3``, ``+3``, ``3.0``), or ``None``."""
    text = text.strip()
    if not _INTEGRAL.fullmatch(text):
        return None
    return int(text.split(".")[0])


def read_labels_file(path: Path, n: int) -> Labels:
    suffix = path.suffix.lower()
    if suffix == ".npy":
        return _read_npy(path, n)
    if suffix not in LABEL_SUFFIXES:
        raise DataError(
            f"{path}: unsupported labels file type {path.suffix or '(none)'!r}; "
            f"expected one of {', '.join(LABEL_SUFFIXES)}"
        )
    data = read_capped(path, limits.MAX_TEXT_FILE_BYTES, "labels file")
    text = decode_text(path, data)
    values = _txt_values(path, text, n) if suffix == ".txt" else _csv_values(path, text, suffix, n)
    y = check_labels(f"{path}: labels", np.frombuffer(values, dtype=np.int64), n)
    return Labels(y, sha256_bytes(data))


def _txt_values(path: Path, text: str, n: int) -> array[int]:
    values = array("q")
    for number, line in enumerate(io.StringIO(text), start=1):
        if not line.strip():
            continue
        value = parse_int(line)
        if value is None:
            raise DataError(f"{path}: line {number}: {_show(line)} is not an integer class index")
        _append(path, number, values, value, n)
    return values


def _append(path: Path, line: int, values: array[int], value: int, n: int) -> None:
    if len(values) == n:
        raise DataError(f"{path}: line {line}: more labels than the {n} samples")
    if not 0 <= value <= limits.MAX_LABEL:
        raise DataError(
            f"{path}: line {line}: class index {value} is outside 0..{limits.MAX_LABEL}"
        )
    values.append(value)


def _csv_values(path: Path, text: str, suffix: str, n: int) -> array[int]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter="\t" if suffix == ".tsv" else ",")
    values = array("q")
    column, width = 0, 0
    try:
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            if not width:
                width = len(row)
                if any(parse_int(cell) is None for cell in row):
                    column = _label_column(path, row)
                    continue
                if width > 1:
                    raise DataError(
                        f"{path}: several columns and no header row naming the 'label' column"
                    )
            if len(row) != width:
                raise DataError(
                    f"{path}: line {reader.line_num} has {len(row)} cells; expected {width}"
                )
            value = parse_int(row[column])
            if value is None:
                raise DataError(
                    f"{path}: line {reader.line_num}: {_show(row[column])} is not an integer class index"
                )
            _append(path, reader.line_num, values, value, n)
    except csv.Error as exc:
        raise DataError(f"{path}: line {reader.line_num}: malformed CSV ({exc})") from None
    return values


def _label_column(path: Path, header: list[str]) -> int:
    names = [cell.strip() for cell in header]
    if len(names) == 1:
        return 0
    if "label" not in names:
        raise DataError(f"{path}: several columns and none named 'label' (found: {quoted(names)})")
    return names.index("label")


def _read_npy(path: Path, n: int) -> Labels:
    with open_regular(path) as (handle, size):
        header = read_header(handle, f"{path}: labels")
        if header.nbytes > limits.MAX_IN_MEMORY_ARRAY_BYTES:
            raise DataError(
                f"{path}: labels declare {header.nbytes} bytes; the limit is {limits.MAX_IN_MEMORY_ARRAY_BYTES}"
            )
        if size != header.total_bytes:
            raise DataError(
                f"{path}: the header declares {header.total_bytes} bytes, the file has {size}"
            )
        handle.seek(0)
        data = handle.read(size)
    if len(data) != size:
        raise DataError(f"{path}: truncated while being read")
    y = np.frombuffer(data, dtype=header.dtype, offset=header.data_offset)
    y = y.reshape(header.shape, order="F" if header.fortran_order else "C")
    return Labels(check_labels(f"{path}: labels", y, n), sha256_bytes(data))


def _show(text: str) -> str:
    text = text.strip()
    return repr(text if len(text) <= 40 else text[:37] + "...")
