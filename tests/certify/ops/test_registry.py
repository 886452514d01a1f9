"""The rule table: explicit, complete for what the docs promise, and strict about duplicates."""

from __future__ import annotations

import pytest

from robustcheck.certify import BUILT_IN, default_rules
from robustcheck.certify.ops import RuleRegistry, affine

PROMISED = {
    "Gemm",
    "MatMul",
    "Conv",
    "ConvTranspose",
    "Add",
    "Sub",
    "Mul",
    "Div",
    "BatchNormalization",
    "Relu",
    "LeakyRelu",
    "Sigmoid",
    "Tanh",
    "MaxPool",
    "AveragePool",
    "GlobalAveragePool",
    "Flatten",
    "Reshape",
    "Transpose",
    "Squeeze",
    "Unsqueeze",
    "Concat",
    "Slice",
    "Pad",
    "Identity",
    "Dropout",
}


def test_every_promised_op_has_a_rule():
    assert set(default_rules().op_types()) >= PROMISED
    assert len({op for op, _ in BUILT_IN}) == len(BUILT_IN)


def test_a_duplicate_registration_raises():
    registry = RuleRegistry()
    registry.add("Identity", affine.monotone)
    with pytest.raises(ValueError, match="already registered"):
        registry.add("Identity", affine.monotone)


def test_each_call_builds_a_fresh_registry():
    mine = default_rules()
    mine_types = mine.op_types()
    mine.add("Custom", affine.monotone)
    assert default_rules().op_types() == mine_types
