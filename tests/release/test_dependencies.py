"""Every third-party module robustcheck imports comes from what ``pip install robustcheck-gate``
installs: the transitive closure of ``[project].dependencies``, never a development-only package.

Two views of it: the imports written in robustcheck/ (static), and the modules a real demo, scans
of every model format and an image folder, and every report format actually load (dynamic).
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys

import pytest
from release._closure import ROOT, canonical, closure, declared_requirements, module_owners
from release._workspace import scan_commands, write_workspace

OPTIONAL = {
    # module: (the extra that provides it, where a missing one is turned into a one-line message)
    "ray": ("ray", "robustcheck/execution/ray_executor.py"),
    "tokenizers": ("text", "robustcheck/data/tokenizer.py"),
    "pytest": ("pytest", "robustcheck/pytest_plugin.py"),
    "mlflow": ("mlflow", "robustcheck/tracking/mlflow_run.py"),
}
"""Imports on optional paths only, each lazy and naming its extra when missing."""


def _third_party(module: str) -> bool:
    top = module.split(".")[0]
    return top not in sys.stdlib_module_names and top not in ("robustcheck", "__main__")


def _undeclared(modules: set[str], provided: set[str]) -> list[str]:
    owners = module_owners()
    missing = []
    for module in sorted(modules):
        dists = owners.get(module)
        if dists is None:
            continue  # not from any distribution: the interpreter's own, or a test helper
        if not dists & provided:
            missing.append(f"{module} (from {', '.join(sorted(dists))})")
    return missing


def test_every_import_in_the_package_is_declared_or_an_optional_extra():
    provided = closure(declared_requirements())
    imported: dict[str, str] = {}
    for path in sorted((ROOT / "robustcheck").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if _third_party(top):
                    imported.setdefault(top, f"{path.relative_to(ROOT)}:{node.lineno}")
    if sys.version_info >= (3, 11):
        imported.pop("tomli", None)  # declared for Python 3.10 only, imported only there
    optional = {m for m in imported if m in OPTIONAL}
    missing = _undeclared(set(imported) - optional, provided)
    assert not missing, f"imported but not installed by a plain pip install: {missing}"
    for module in optional:
        extra, where = OPTIONAL[module]
        assert imported[module].startswith(f"{where}:"), (module, imported[module])
        assert declared_requirements([extra]) != declared_requirements(), extra
        assert f"robustcheck-gate[{extra}]" in (ROOT / where).read_text(), (
            f"{where} imports {module} without naming the extra that installs it"
        )


_DRIVER = """
import builtins, json, sys

imported = {}
original = builtins.__import__


def watched(name, globals=None, locals=None, fromlist=(), level=0):
    if level == 0 and globals is not None:
        importer = str(globals.get("__name__", ""))
        if importer.split(".")[0] == "robustcheck":
            imported.setdefault(name.split(".")[0], importer)
    return original(name, globals, locals, fromlist, level)


builtins.__import__ = watched
from robustcheck.cli import main

codes = [main(argv) for argv in json.loads(sys.argv[1])]
print(json.dumps({"codes": codes, "imported": imported}))
"""
"""Runs robustcheck commands and records every top-level module an import statement in
robustcheck's own code asked for while they ran (also when the module was already loaded). What
dependencies import on their own (``torch.hub`` trying ``tqdm``) is theirs to make optional, and
the fresh-venv test in test_wheel.py proves they do."""


@pytest.mark.slow
def test_a_demo_and_scans_of_every_format_import_only_declared_distributions(tmp_path):
    workspace = write_workspace(tmp_path / "files")
    reports = tmp_path / "reports"
    commands = [
        ["demo", "--out", str(reports / "demo")],
        # in this process, so the imports of the scan itself are seen (not only the parent's)
        *[[*argv, "--no-isolation"] if argv[0] == "scan" else argv
          for argv in scan_commands(workspace, reports)],
    ]  # fmt: skip
    env = {**os.environ, "ROBUSTCHECK_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("GITHUB_STEP_SUMMARY", None)
    ran = subprocess.run(
        [sys.executable, "-c", _DRIVER, json.dumps(commands)],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr[-3000:]
    result = json.loads(ran.stdout.strip().splitlines()[-1])
    assert all(code in (0, 1) for code in result["codes"]), (result["codes"], ran.stderr[-3000:])
    ours = {module for module in result["imported"] if _third_party(module)}
    assert {"torch", "onnxruntime", "PIL", "numpy"} <= ours, result["imported"]  # paths ran
    missing = _undeclared(ours, closure(declared_requirements()))
    assert not missing, f"robustcheck imported what a plain pip install lacks: {missing}"


def test_the_closure_is_computed_from_the_declaration():
    """The check above is only as good as the closure: dropping a declaration shrinks it."""
    declared = declared_requirements()
    full = closure(declared)
    assert {"torch", "onnx", "onnxruntime-gpu", "pillow", "click", "pydantic"} <= full
    without = closure([r for r in declared if canonical(r.split(">")[0]) != "pillow"])
    assert "pillow" not in without
    assert _undeclared({"PIL"}, without) and not _undeclared({"PIL"}, full)
