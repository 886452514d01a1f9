from __future__ import annotations

from pathlib import Path

from robustcheck.cli import _docs

ROOT = Path(__file__).resolve().parents[2]


def test_cli_reference_matches_the_help():
    expected = _docs.render()
    assert (ROOT / "docs" / "cli.md").read_text() == expected, (
        "docs/cli.md is stale: run python -m robustcheck.cli._docs > docs/cli.md"
    )
