"""docs/data.md lists every size cap with its current value."""

from __future__ import annotations

from pathlib import Path

from robustcheck.data import limits

DOC = Path(__file__).resolve().parents[2] / "docs" / "data.md"
UNITS = {"KiB", "MiB", "GiB"}


def _human(name: str, value: int) -> str:
    if name.endswith("_BYTES"):
        for unit, size in (("GiB", limits.GiB), ("MiB", limits.MiB)):
            if value >= size and value % size == 0:
                return f"{value // size} {unit}"
    return f"{value:,}"


def test_every_cap_is_documented_with_its_value():
    lines = DOC.read_text().splitlines()
    caps = [name for name in vars(limits) if name.isupper() and name not in UNITS]
    assert len(caps) >= 10
    for name in caps:
        rows = [line for line in lines if line.startswith(f"| `{name}` |")]
        assert rows, f"docs/data.md has no row for {name}"
        value = rows[0].split("|")[2]
        assert _human(name, getattr(limits, name)) in value, f"{name}: {value.strip()!r} is stale"
