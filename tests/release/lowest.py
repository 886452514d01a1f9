"""Print pip constraints that pin every dependency robustcheck declares to its lowest allowed
version (``name>=X`` → ``name==X``), for ``make test-oldest``: the declared lower bounds are
promises, and this is how they are checked."""

from __future__ import annotations

import re
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]


def lowest(requirements: list[str]) -> list[str]:
    pins = []
    for requirement in requirements:
        spec, _, marker = requirement.partition(";")
        found = re.match(r"\s*([A-Za-z0-9._-]+)\s*(?:\[[^\]]*\])?\s*.*?>=\s*([^,\s]+)", spec)
        if found is None:
            continue
        pin = f"{found.group(1)}=={found.group(2)}"
        pins.append(f"{pin}; {marker.strip()}" if marker.strip() else pin)
    return pins


if __name__ == "__main__":
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    print("\n".join(lowest(project["dependencies"])))
