"""Installed distributions built on disk for a test: a folder holding the plugin's modules and a
``NAME-VERSION.dist-info`` (METADATA, entry_points.txt), which importlib.metadata discovers once
the folder is on sys.path, exactly as it discovers a pip-installed plugin."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def write_distribution(
    root: Path,
    name: str,
    modules: dict[str, str],
    entry_points: dict[str, dict[str, str]],
    version: str = "0.1.0",
) -> Path:
    """Write the distribution ``name`` under ``root``: each module (its source, dedented) and the
    metadata declaring ``entry_points`` (group → entry name → ``module:attribute``)."""
    root.mkdir(parents=True, exist_ok=True)
    for module, source in modules.items():
        (root / f"{module}.py").write_text(textwrap.dedent(source))
    info = root / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    sections = [
        f"[{group}]\n" + "".join(f"{key} = {value}\n" for key, value in entries.items())
        for group, entries in entry_points.items()
    ]
    (info / "entry_points.txt").write_text("\n".join(sections))
    return root


@contextmanager
def installed(monkeypatch: pytest.MonkeyPatch, root: Path, modules: list[str]) -> Iterator[None]:
    """``root`` on sys.path for the duration, its modules forgotten afterwards."""
    monkeypatch.syspath_prepend(str(root))
    try:
        yield
    finally:
        for module in modules:
            sys.modules.pop(module, None)
