"""Hostile CSV tables: text where numbers belong, broken rows, bad encodings."""

from __future__ import annotations

from collections.abc import Callable

from hostile._case import INPUT, Case, Shared
from hostile._data import data_file

Edit = Callable[[list[str]], list[str]]
DATA_CSV = "{tmp}/data.csv"


def _csv(edit: Edit | None = None):
    """A 64-feature table of digits with a ``label`` column, then ``edit`` applied to its lines."""

    def content(fx: Shared) -> str:
        header = ",".join([*(f"f{i}" for i in range(64)), "label"])
        rows = [
            ",".join([*(f"{v:g}" for v in x.reshape(-1)), str(int(y))])
            for x, y in zip(fx.x[:50], fx.y[:50], strict=True)
        ]
        lines = [header, *rows]
        return "\n".join(edit(lines) if edit else lines) + "\n"

    return content


def _cell(row: int, column: int, value: str) -> Edit:
    def edit(lines: list[str]) -> list[str]:
        cells = lines[row].split(",")
        cells[column] = value
        lines[row] = ",".join(cells)
        return lines

    return edit


def _csv_case(name: str, edit: Edit) -> Case:
    return Case(name, data_file("data.csv", _csv(edit), "linear_pt"), INPUT, DATA_CSV)


CASES = [
    _csv_case("csv-text-cell", _cell(3, 5, "four")),
    _csv_case("csv-text-label", _cell(4, 64, "seven")),
    _csv_case("csv-nan-cell", _cell(2, 1, "nan")),
    _csv_case("csv-no-header", lambda lines: lines[1:]),
    _csv_case("csv-ragged-row", lambda lines: [*lines[:5], lines[5] + ",1", *lines[6:]]),
    _csv_case("csv-unterminated-quote", lambda lines: [*lines[:3], '"' + lines[3]]),
    Case(
        "csv-not-utf8",
        data_file("data.csv", lambda fx: b"f0,label\n\xff\xfe,1\n", "linear_pt"),
        INPUT,
        DATA_CSV,
    ),
]
