"""The short version of `make paper`: the page's structure and the claims' directions."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _rows(page: str) -> dict[str, list[str]]:
    """Claim -> its cells, for the table's data rows."""
    cells = [line.strip("| ").split(" | ") for line in page.splitlines() if line.startswith("| ")]
    return {row[0]: row for row in cells if row[0] != "Claim"}


@pytest.mark.slow
def test_quick_paper_matches_the_committed_page(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("paper", ROOT / "bench" / "paper.py")
    assert spec is not None and spec.loader is not None
    paper = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "paper", paper)  # dataclasses look their module up
    spec.loader.exec_module(paper)
    out = tmp_path / "paper.md"
    assert paper.main(["--quick", "-o", str(out)]) == 0
    page = _rows(out.read_text())
    committed = _rows((ROOT / "docs" / "paper.md").read_text())
    assert list(page) == list(committed), "docs/paper.md is stale: run make paper"
    assert len(page) == 8 and all(len(row) == 5 for row in page.values())
    # Directions that must hold even in the short run.
    for claim in (
        "A shallow softmax is fooled almost always at ε = 0.25 (§ 4)",
        "Random noise of the same size is far weaker than the gradient sign (§ 4, § 7)",
        "Adversarial training (α = 0.5, ε = 0.25) cuts the FGSM error (§ 6)",
    ):
        assert page[claim][3] == "yes", page[claim]
