from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _generate(module: str) -> str:
    # A fresh process: click caches each command's help option on first use, so commands that
    # other tests invoked directly would render differently in this one.
    return subprocess.run(
        [sys.executable, "-m", module], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout


def test_cli_reference_matches_the_help():
    assert (ROOT / "docs" / "cli.md").read_text() == _generate("robustcheck.cli._docs"), (
        "docs/cli.md is stale: run python -m robustcheck.cli._docs > docs/cli.md"
    )
