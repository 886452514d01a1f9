"""Layers that read from the tree, beyond the import-linter contracts in pyproject.toml: a
function-level import delays a heavy or optional module and says which (a cycle hidden by one is
still a cycle), and no module reaches into another package's private names."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "robustcheck"
CLI = ROOT / "cli"
"""The CLI imports the library inside each command so `--help` stays instant: that is its
convention (robustcheck/cli/__init__.py), so its function-level imports need no comment."""


def _modules() -> list[tuple[Path, list[str], ast.Module]]:
    found = []
    for path in sorted(ROOT.rglob("*.py")):
        text = path.read_text()
        found.append((path, text.splitlines(), ast.parse(text, str(path))))
    return found


def _package(path: Path) -> str:
    return ".".join(path.relative_to(ROOT.parent).with_suffix("").parts[:2])


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def test_every_function_level_import_says_what_it_delays():
    silent = []
    for path, lines, tree in _modules():
        if path.is_relative_to(CLI):
            continue
        for function in ast.walk(tree):
            if not isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(function):
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    around = lines[max(0, node.lineno - 3) : node.lineno]
                    if not any("#" in line for line in around):
                        silent.append(f"{path.relative_to(ROOT.parent)}:{node.lineno}")
    assert not silent, f"function-level imports without a comment saying what they delay: {silent}"


def test_no_module_imports_another_package_s_private_names():
    crossing = []
    for path, _, tree in _modules():
        for node in ast.walk(tree):
            if not isinstance(node, ast.ImportFrom) or not node.module or node.level:
                continue
            if not node.module.startswith("robustcheck"):
                continue
            private = [a.name for a in node.names if _private(a.name)]
            parts = node.module.split(".")
            if len(parts) < 2 or _private(parts[1]):
                continue  # robustcheck's own top-level helpers (_yaml, _warnings): any package's
            if private and ".".join(parts[:2]) != _package(path):
                crossing.append(f"{path.relative_to(ROOT.parent)}: {node.module} {private}")
    assert not crossing, f"private names imported across packages: {crossing}"
