"""Tables for tabular models: a CSV (or TSV) file with a header row, read with the stdlib ``csv``.

Every feature cell must be a number; the label column holds integer class indices. Tables are
small, so the file is capped at ``limits.MAX_TEXT_FILE_BYTES`` and read whole into float32.
"""

from __future__ import annotations

import csv
import io
from array import array
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from robustcheck.data import limits
from robustcheck.data._checks import check_finite, check_labels, count_nonfinite_samples
from robustcheck.data.base import ArraySource, Dataset
from robustcheck.data.labels import parse_int
from robustcheck.data.options import LoadOptions
from robustcheck.data.registry import loader
from robustcheck.errors import DataError
from robustcheck.files import decode_text, read_capped, sha256_bytes

DEFAULT_LABEL_COLUMN = "label"


@loader(
    "csv",
    suffixes=(".csv", ".tsv"),
    options=frozenset({"label_column", "feature_columns"}),
    description="table with a header row: numeric feature columns and a label column",
)
def load_csv(path: Path, options: LoadOptions) -> Dataset:
    data = read_capped(path, limits.MAX_TEXT_FILE_BYTES, "table")
    rows = _rows(path, decode_text(path, data))
    first = next(rows, None)
    if first is None:
        raise DataError(f"{path}: the table is empty; expected a header row and samples")
    header = [name.strip() for name in first[1]]
    if all(_is_number(name) for name in header):
        raise DataError(
            f"{path}: the first row holds only numbers; a header row is required",
            hint="add a first row of column names, one of them 'label' or --label-column",
        )
    label, features = _columns(path, header, options)
    # Rows are parsed one at a time into flat typed arrays: the table never exists as Python
    # lists of cells, which would take ~50 times the file's size.
    values, labels = array("d"), array("q")
    for number, row in rows:
        if len(row) != len(header):
            raise DataError(f"{path}: row {number} has {len(row)} cells; expected {len(header)}")
        values.extend(_number(path, number, header[j], row[j]) for j in features)
        labels.append(_label(path, number, header[label], row[label]))
    if not labels:
        raise DataError(f"{path}: the table has a header row but no samples")
    with np.errstate(over="ignore"):  # a value beyond float32 becomes Inf, counted below
        x = np.frombuffer(values, dtype=np.float64).astype(np.float32).reshape(len(labels), -1)
    check_finite(f"{path}: features", count_nonfinite_samples([x]), len(labels))
    y = np.frombuffer(labels, dtype=np.int64).copy()
    return Dataset(
        path=str(path),
        format="csv",
        sha256=sha256_bytes(data),
        source=ArraySource(x),
        y=check_labels(f"{path}: labels {header[label]!r}", y, len(labels)),
        x_key=", ".join(header[j] for j in features),
        y_key=header[label],
    )


def _rows(path: Path, text: str) -> Iterator[tuple[int, list[str]]]:
    """Non-blank rows with the line number each one ends on."""
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        for row in reader:
            if any(cell.strip() for cell in row):
                yield reader.line_num, row
    except csv.Error as exc:
        raise DataError(f"{path}: line {reader.line_num}: malformed CSV ({exc})") from None


def _columns(path: Path, header: list[str], options: LoadOptions) -> tuple[int, list[int]]:
    """The label column's position and the feature columns' positions."""
    duplicates = sorted(name for name, count in Counter(header).items() if count > 1)
    if duplicates:
        raise DataError(f"{path}: the header repeats column {duplicates[0]!r}")
    listed = ", ".join(header)
    label_name = options.label_column or DEFAULT_LABEL_COLUMN
    if label_name not in header:
        raise DataError(
            f"{path}: no label column {label_name!r} (columns: {listed})",
            hint="name it with --label-column",
        )
    label = header.index(label_name)
    if options.feature_columns is None:
        if len(header) == 1:
            raise DataError(f"{path}: the only column is the label {label_name!r}; no features")
        return label, [j for j in range(len(header)) if j != label]
    missing = [name for name in options.feature_columns if name not in header]
    if missing:
        raise DataError(f"{path}: no feature column {missing[0]!r} (columns: {listed})")
    if label_name in options.feature_columns:
        raise DataError(f"{path}: the label column {label_name!r} is also listed as a feature")
    if len(set(options.feature_columns)) != len(options.feature_columns):
        raise DataError(f"{path}: a feature column is listed twice")
    return label, [header.index(name) for name in options.feature_columns]


def _number(path: Path, row: int, column: str, cell: str) -> float:
    try:
        value = float(cell)
    except ValueError:
        raise DataError(
            f"{path}: row {row}, column {column!r}: {_show(cell)} is not a number"
        ) from None
    if "_" in cell:  # float() accepts "1_000"; a spreadsheet never writes it
        raise DataError(f"{path}: row {row}, column {column!r}: {_show(cell)} is not a number")
    return value


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _label(path: Path, row: int, column: str, cell: str) -> int:
    value = parse_int(cell)
    if value is None:
        raise DataError(
            f"{path}: row {row}, column {column!r}: {_show(cell)} is not an integer class index"
        )
    if not 0 <= value <= limits.MAX_LABEL:
        raise DataError(
            f"{path}: row {row}, column {column!r}: class index {value} is out of range"
        )
    return value


def _show(cell: str) -> str:
    cell = cell.strip()
    return repr(cell if len(cell) <= 40 else cell[:37] + "...")
