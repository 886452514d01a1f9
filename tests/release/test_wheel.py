"""The built wheel, not the source tree, installs and runs: catches missing package data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DIST_NAME = "robustcheck-gate"


def _run(
    *args: object, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def test_the_built_wheel_installs_into_a_fresh_venv_and_runs_the_demo(tmp_path):
    dist = tmp_path / "dist"
    # --no-isolation: build with the setuptools already installed (no download in tests).
    built = _run(sys.executable, "-m", "build", "--no-isolation", "--outdir", dist, ROOT, cwd=ROOT)
    assert built.returncode == 0, built.stderr
    (wheel,) = dist.glob("robustcheck_gate-*.whl")
    checked = _run(sys.executable, "-m", "twine", "check", "--strict", *dist.iterdir(), cwd=ROOT)
    assert checked.returncode == 0, checked.stdout + checked.stderr

    fresh = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(fresh)
    python = fresh / "bin" / "python"
    site = Path(
        _run(
            python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))", cwd=tmp_path
        ).stdout.strip()
    )
    # Dependencies (torch, onnx, ...) come from this environment's site-packages, appended after
    # the fresh one; its .pth files are not processed, so the editable source tree stays invisible.
    (site / "_parent_deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    installed = _run(
        sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index",
        "--no-cache-dir", wheel, cwd=tmp_path,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert "Deprecat" not in installed.stderr

    env = {**os.environ, "ROBUSTCHECK_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("GITHUB_STEP_SUMMARY", None)
    where = _run(python, "-c", "import robustcheck; print(robustcheck.__file__)", cwd=tmp_path)
    assert Path(where.stdout.strip()).is_relative_to(fresh), where.stdout + where.stderr
    meta = _run(
        python, "-c", f"from importlib import metadata; print(metadata.version({DIST_NAME!r}))",
        cwd=tmp_path,
    )  # fmt: skip
    assert meta.returncode == 0, meta.stderr

    command = fresh / "bin" / "robustcheck"
    helped = _run(command, "scan", "--help", cwd=tmp_path, env=env)
    assert helped.returncode == 0 and "--eps" in helped.stdout, helped.stderr
    demo = _run(command, "demo", "--out", tmp_path / "reports", cwd=tmp_path, env=env)
    assert demo.returncode in (0, 1), demo.stdout + demo.stderr
    assert "verdict:" in demo.stdout
    report = json.loads((tmp_path / "reports" / "report.json").read_text())
    assert report["complete"] is True
    assert report["policy"]["source"] == "default"


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
