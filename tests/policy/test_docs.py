"""docs/policies.md's sample messages are real (its YAML blocks are loaded as policies by the
docs run: conftest.py, tests/_docrun)."""

from __future__ import annotations

from pathlib import Path

from robustcheck.policy.evaluate import evaluate
from robustcheck.policy.load import parse_policy

DOC = Path(__file__).resolve().parents[2] / "docs" / "policies.md"


def test_the_documented_upper_bound_message(make_result):
    policy = parse_policy(
        "version: 1\nbudgets:\n  - eps: 0.1\n"
        "    max_adversarial_error_rate: {limit: 0.3, gate_on: upper_bound}\n"
    )
    (check,) = evaluate(policy, [make_result(adversarial_errors=45)])
    line = f"{check.status.upper():5}  {check.message}"
    assert line in DOC.read_text(encoding="utf-8")
