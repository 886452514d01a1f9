"""docs/onnx-ops.md is generated from the registry and must not drift from it."""

from __future__ import annotations

from pathlib import Path

from robustcheck.backends.onnx.twin import default_registry
from robustcheck.backends.onnx.twin.support_table import render

DOCS = Path(__file__).resolve().parents[4] / "docs" / "onnx-ops.md"


def test_checked_in_support_table_matches_the_generator() -> None:
    expected = render(default_registry())
    assert DOCS.read_text(encoding="utf-8") == expected, (
        "docs/onnx-ops.md is stale: run "
        "`python -m robustcheck.backends.onnx.twin.support_table > docs/onnx-ops.md`"
    )


def test_table_lists_every_operator_once() -> None:
    table = render(default_registry())
    for domain, op_type in default_registry().op_types():
        assert table.count(f"| {domain or 'ai.onnx'} | {op_type} |") == 1
    assert "TreeEnsembleClassifier |" not in table
