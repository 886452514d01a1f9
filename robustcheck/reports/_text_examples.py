"""Flipped texts of token-substitution attacks, as plain lines (terminal summary and JUnit)."""

from __future__ import annotations

from robustcheck.reports.model import Report, TextExample


def swaps(example: TextExample) -> str:
    return ", ".join(f"{s.original} → {s.substitute} @{s.position}" for s in example.swaps)


def text_example_lines(report: Report) -> list[str]:
    """One line per example; callers escape for their format."""
    return [
        f"{e.attack} tokens={e.tokens}: sample {e.index}, class {e.label} → "
        f"{e.adversarial_prediction} ({e.adversarial_confidence:.3f}): {e.original_text!r} → "
        f"{e.adversarial_text!r} ({swaps(e)})"
        for e in report.text_examples
    ]
