"""The operator registry: explicit registration, version lookup, and drift against onnx.defs."""

from __future__ import annotations

import onnx.defs
import pytest
from torch import Tensor

from robustcheck.backends.onnx.twin import OpRegistry, default_registry


def first(x: Tensor) -> Tensor:
    return x


def second(x: Tensor, *, alpha: float = 1.0, output_count: int = 1) -> Tensor:
    return x * alpha


def test_lookup_picks_the_greatest_since_version_not_above_the_opset() -> None:
    registry = OpRegistry()
    registry.add("", "Op", 6, first)
    registry.add("", "Op", 13, second)
    assert registry.lookup("", "Op", 5) is None
    assert registry.lookup("", "Op", 6).fn is first  # type: ignore[union-attr]
    assert registry.lookup("", "Op", 12).fn is first  # type: ignore[union-attr]
    assert registry.lookup("", "Op", 13).fn is second  # type: ignore[union-attr]
    assert registry.lookup("", "Op", 99).fn is second  # type: ignore[union-attr]
    assert registry.lookup("", "Other", 13) is None


def test_ai_onnx_and_the_empty_domain_are_the_same_domain() -> None:
    registry = OpRegistry()
    registry.add("ai.onnx", "Op", 1, first)
    assert registry.lookup("", "Op", 1) is not None
    assert registry.op_types() == [("", "Op")]


def test_duplicate_registration_raises() -> None:
    registry = OpRegistry()
    registry.add("", "Op", 1, first)
    with pytest.raises(ValueError, match="already registered"):
        registry.add("ai.onnx", "Op", 1, second)


def test_spec_records_attributes_and_the_output_count_convention() -> None:
    registry = OpRegistry()
    registry.add("", "Op", 1, second, differentiable=False)
    spec = registry.lookup("", "Op", 1)
    assert spec is not None
    assert spec.attributes == frozenset({"alpha"})
    assert spec.wants_output_count
    assert not spec.differentiable


def test_default_registry_is_fresh_each_time() -> None:
    one, two = default_registry(), default_registry()
    one.add("com.example", "Custom", 1, first)
    assert two.lookup("com.example", "Custom", 1) is None
    assert len(one) == len(two) + 1


def test_tree_ensembles_and_svms_are_not_registered() -> None:
    registry = default_registry()
    for op in (
        "TreeEnsembleClassifier",
        "TreeEnsembleRegressor",
        "TreeEnsemble",
        "SVMClassifier",
        "SVMRegressor",
    ):
        assert registry.lookup("ai.onnx.ml", op, 5) is None


def _interface(schema: onnx.defs.OpSchema) -> tuple[object, ...]:
    attributes = tuple(
        sorted(
            (name, str(attr.default_value), attr.required)
            for name, attr in schema.attributes.items()
        )
    )
    inputs = tuple((p.name, str(p.option)) for p in schema.inputs)
    outputs = tuple((p.name, str(p.option)) for p in schema.outputs)
    return attributes, inputs, outputs


def _interface_changes(domain: str, op_type: str) -> list[int]:
    """The since-versions at which an operator's attributes, inputs or outputs changed."""
    schemas = sorted(
        (
            s
            for s in onnx.defs.get_all_schemas_with_history()
            if s.domain == domain and s.name == op_type
        ),
        key=lambda s: s.since_version,
    )
    changes, previous = [], None
    for schema in schemas:
        current = _interface(schema)
        if current != previous:
            changes.append(schema.since_version)
        previous = current
    return changes


def test_every_interface_change_after_the_first_implementation_is_registered() -> None:
    """A newer opset that adds an input or attribute must get its own registration (and a
    conformance case) instead of silently reusing the older implementation."""
    registry = default_registry()
    missing = []
    for domain, op_type in registry.op_types():
        registered = registry.since_versions(domain, op_type)
        schema_domain = domain or ""
        for version in _interface_changes(schema_domain, op_type):
            if version > registered[0] and version not in registered:
                missing.append(f"{domain}::{op_type} since {version}")
    assert not missing, missing
