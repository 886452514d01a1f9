"""The distributions a plain ``pip install robustcheck-gate`` brings: the transitive closure of the
declared requirements, resolved against the installed metadata of this environment.

Used by the install tests to prove the user's environment, not the developer's: the closure is
what a fresh venv may hold, and every module a scan imports must come from it.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def declared_requirements(extras: Iterable[str] = ()) -> list[str]:
    """``[project].dependencies`` of the source tree's pyproject.toml (plus the named extras)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"])
    for extra in extras:
        requirements += project["optional-dependencies"][extra]
    return requirements


def wheel_requirements(wheel_metadata: str) -> list[str]:
    """The ``Requires-Dist`` lines of a wheel's METADATA (what pip resolves on install)."""
    return [
        line.split(":", 1)[1].strip()
        for line in wheel_metadata.splitlines()
        if line.startswith("Requires-Dist:")
    ]


def closure(requirements: Iterable[str]) -> set[str]:
    """Canonical names of the distributions ``requirements`` pull in, transitively, with
    environment markers evaluated for this interpreter and no extras beyond those named."""
    seen: set[str] = set()
    todo = [(Requirement(r), "") for r in requirements]
    while todo:
        req, extra = todo.pop()
        if req.marker is not None and not req.marker.evaluate({"extra": extra}):
            continue
        name = canonical(req.name)
        wanted = [(name, "")] + [(name, e) for e in sorted(req.extras)]
        for dist_name, dist_extra in wanted:
            key = f"{dist_name}[{dist_extra}]" if dist_extra else dist_name
            if key in seen:
                continue
            seen.add(key)
            try:
                requires = metadata.requires(dist_name) or []
            except metadata.PackageNotFoundError:
                raise AssertionError(
                    f"{dist_name} is declared (directly or by a dependency) but not installed "
                    "in the test environment, so the install tests cannot resolve it"
                ) from None
            todo += [(Requirement(r), dist_extra) for r in requires]
    return {key for key in seen if "[" not in key}


def module_owners() -> dict[str, set[str]]:
    """Top-level importable name → canonical names of the distributions providing it."""
    return {
        module: {canonical(d) for d in dists}
        for module, dists in metadata.packages_distributions().items()
    }


def expose(distributions: set[str], target: Path) -> None:
    """Make ``target`` a site directory holding exactly ``distributions`` (as symbolic links into
    this environment's site-packages), for a fresh venv to put on its path."""
    owners: dict[tuple[str, ...], set[str]] = {}
    files: dict[str, list[tuple[Path, tuple[str, ...]]]] = {}
    for dist in metadata.distributions():
        name = canonical(dist.metadata["Name"])
        base = Path(dist.locate_file(""))
        for record in dist.files or []:
            parts = Path(record).parts
            if not parts or parts[0] == "..":  # scripts installed outside site-packages
                continue
            owners.setdefault(parts[:1], set()).add(name)
            if len(parts) > 1:
                owners.setdefault(parts[:2], set()).add(name)
            files.setdefault(name, []).append((base, parts))
    target.mkdir(parents=True, exist_ok=True)
    for name in sorted(distributions):
        for base, parts in files.get(name, []):
            # Link the largest piece this distribution owns alone: its top-level folder, or, in a
            # namespace folder several distributions share (nvidia/, google/), its sub-folder.
            depth = 1 if owners[parts[:1]] == {name} or len(parts) == 1 else 2
            link = target.joinpath(*parts[:depth])
            if os.path.lexists(link):
                continue
            link.parent.mkdir(parents=True, exist_ok=True)
            link.symlink_to(base.joinpath(*parts[:depth]))
