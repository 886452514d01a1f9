"""Every YAML block in docs/policies.md is a valid policy, and its sample messages are real."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from robustcheck.policy.evaluate import evaluate
from robustcheck.policy.load import parse_policy

DOC = Path(__file__).resolve().parents[2] / "docs" / "policies.md"
BLOCKS = re.findall(r"```yaml\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)


def test_the_page_has_examples():
    assert len(BLOCKS) >= 12


@pytest.mark.parametrize("block", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_every_yaml_block_is_a_valid_policy(block):
    parse_policy(block, source="docs/policies.md")


def test_the_documented_upper_bound_message(make_result):
    policy = parse_policy(
        "version: 1\nbudgets:\n  - eps: 0.1\n"
        "    max_adversarial_error_rate: {limit: 0.3, gate_on: upper_bound}\n"
    )
    (check,) = evaluate(policy, [make_result(adversarial_errors=45)])
    line = f"{check.status.upper():5}  {check.message}"
    assert line in DOC.read_text(encoding="utf-8")
