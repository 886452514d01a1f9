"""The built wheel, not the source tree, installs and runs beside its declared dependencies only:
catches missing package data and undeclared dependencies."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

from release._closure import closure, expose, wheel_requirements
from release._workspace import scan_commands, write_workspace

ROOT = Path(__file__).resolve().parents[2]
DIST_NAME = "robustcheck-gate"


def _run(
    *args: object, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    if env is None:  # the fresh venv's own packages only, whatever the caller's PYTHONPATH
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def _build(tmp_path: Path) -> Path:
    dist = tmp_path / "dist"
    # --no-isolation: build with the setuptools already installed (no download in tests).
    built = _run(sys.executable, "-m", "build", "--no-isolation", "--outdir", dist, ROOT, cwd=ROOT)
    assert built.returncode == 0, built.stderr
    (wheel,) = dist.glob("robustcheck_gate-*.whl")
    checked = _run(sys.executable, "-m", "twine", "check", "--strict", *dist.iterdir(), cwd=ROOT)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    return wheel


def _fresh_venv(tmp_path: Path, wheel: Path) -> Path:
    """A new venv holding the wheel and exactly the distributions its metadata requires,
    transitively: what ``pip install`` would give a user, taken from this environment's
    site-packages (no download), and nothing else of it."""
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        required = closure(wheel_requirements(archive.read(name).decode()))
    fresh = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(fresh)
    python = fresh / "bin" / "python"
    site = Path(
        _run(
            python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))", cwd=tmp_path
        ).stdout.strip()
    )
    closure_site = tmp_path / "closure"
    expose(required, closure_site)
    (site / "_declared_dependencies.pth").write_text(f"{closure_site}\n")
    installed = _run(
        sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index",
        "--no-cache-dir", wheel, cwd=tmp_path,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert "Deprecat" not in installed.stderr
    consistent = _run(sys.executable, "-m", "pip", "--python", python, "check", cwd=tmp_path)
    assert consistent.returncode == 0, consistent.stdout + consistent.stderr
    return fresh


def test_the_built_wheel_with_only_its_declared_dependencies_runs_every_default_path(tmp_path):
    fresh = _fresh_venv(tmp_path, _build(tmp_path))
    python = fresh / "bin" / "python"
    env = {**os.environ, "ROBUSTCHECK_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("GITHUB_STEP_SUMMARY", None)
    env.pop("PYTHONPATH", None)
    where = _run(python, "-c", "import robustcheck; print(robustcheck.__file__)", cwd=tmp_path)
    assert Path(where.stdout.strip()).is_relative_to(fresh), where.stdout + where.stderr
    # The development-only packages are really absent, so an import of one would fail here.
    absent = _run(python, "-c", "import sklearn", cwd=tmp_path)
    assert absent.returncode != 0
    meta = _run(
        python, "-c", f"from importlib import metadata; print(metadata.version({DIST_NAME!r}))",
        cwd=tmp_path,
    )  # fmt: skip
    assert meta.returncode == 0, meta.stderr

    command = fresh / "bin" / "robustcheck"
    helped = _run(command, "scan", "--help", cwd=tmp_path, env=env)
    assert helped.returncode == 0 and "--eps" in helped.stdout, helped.stderr
    demo = _run(command, "demo", "--out", tmp_path / "reports", cwd=tmp_path, env=env)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "verdict:" in demo.stdout
    assert "Warning" not in demo.stderr, demo.stderr
    report = json.loads((tmp_path / "reports" / "report.json").read_text())
    assert report["complete"] is True
    assert report["policy"]["source"] == "default"
    assert report["model"]["format"] == "torch.export"

    workspace = write_workspace(tmp_path / "files")
    reports = tmp_path / "scans"
    for argv in scan_commands(workspace, reports):
        ran = _run(command, *argv, cwd=tmp_path, env=env)
        assert ran.returncode in (0, 1), (argv, ran.stdout + ran.stderr)
        assert "Warning" not in ran.stderr, (argv, ran.stderr)
    written = sorted(p.name for p in reports.iterdir())
    for name in ("onnx.json", "onnx.xml", "onnx.md", "onnx.html", "pt2.json", "pt.json"):
        assert name in written
    assert json.loads((reports / "images.json").read_text())["data"]["format"] == "images"


def test_plugins_depend_on_the_published_distribution():
    """`robustcheck` on PyPI is another project: a plugin depending on it would install that."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib

    for pyproject in (ROOT / "plugins").glob("*/pyproject.toml"):
        dependencies = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
        assert "robustcheck" not in dependencies, pyproject
        assert DIST_NAME in dependencies, pyproject
