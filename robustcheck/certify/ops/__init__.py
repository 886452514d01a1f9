"""The bound rules, one per supported ONNX op, in an explicit table.

:func:`default_rules` builds a fresh :class:`RuleRegistry` from :data:`BUILT_IN`; a caller may
add its own rules to that copy. Registering an op twice raises: silently replacing a rule hides
which one a certificate relied on.
"""

from __future__ import annotations

from collections.abc import Callable

from robustcheck.certify.ops import activation, affine, merge, pool, reshape
from robustcheck.certify.ops.base import BoundRule, NodeContext, RuleFactory


class RuleRegistry:
    """Maps an ONNX op type (default domain) to the factory that builds its bound rule."""

    def __init__(self) -> None:
        self._factories: dict[str, RuleFactory] = {}

    def add(self, op_type: str, factory: RuleFactory) -> None:
        if op_type in self._factories:
            raise ValueError(f"a bound rule for {op_type} is already registered")
        self._factories[op_type] = factory

    def lookup(self, op_type: str) -> RuleFactory | None:
        return self._factories.get(op_type)

    def op_types(self) -> list[str]:
        return sorted(self._factories)


BUILT_IN: tuple[tuple[str, Callable[[NodeContext], BoundRule]], ...] = (
    ("Gemm", affine.gemm),
    ("MatMul", affine.matmul),
    ("Conv", affine.conv),
    ("ConvTranspose", affine.conv),
    ("BatchNormalization", affine.batch_normalization),
    ("Add", merge.add),
    ("Sub", merge.sub),
    ("Mul", affine.mul),
    ("Div", affine.div),
    ("Neg", affine.neg),
    ("Concat", merge.concat),
    ("AveragePool", affine.monotone),
    ("GlobalAveragePool", affine.monotone),
    ("Pad", affine.monotone),
    ("Slice", affine.monotone),
    ("Transpose", reshape.transpose),
    ("Identity", affine.monotone),
    ("Dropout", reshape.dropout),
    ("Flatten", reshape.reshape),
    ("Reshape", reshape.reshape),
    ("Squeeze", reshape.reshape),
    ("Unsqueeze", reshape.reshape),
    ("Relu", activation.relu),
    ("LeakyRelu", activation.leaky_relu),
    ("Sigmoid", activation.sigmoid),
    ("Tanh", activation.tanh),
    ("MaxPool", pool.max_pool),
)
"""Every built-in rule; docs/certify support tables are generated from this."""


def default_rules() -> RuleRegistry:
    registry = RuleRegistry()
    for op_type, factory in BUILT_IN:
        registry.add(op_type, factory)
    return registry
