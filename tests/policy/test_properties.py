"""Property tests: the loader only ever raises PolicyError, and valid policies round-trip."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from robustcheck import _yaml
from robustcheck.errors import PolicyError
from robustcheck.policy.load import (
    canonical_dict,
    dump_policy,
    load_policy,
    parse_policy,
    policy_sha256,
)
from robustcheck.policy.schema import Policy

FAST = settings(max_examples=150, deadline=None, database=None)

# --- arbitrary input ------------------------------------------------------------------------


def _loads_or_policy_error(data: str | bytes) -> None:
    try:
        assert isinstance(parse_policy(data, source="fuzz.yaml"), Policy)
    except PolicyError as exc:
        assert exc.message.startswith("fuzz.yaml")
        assert "\n" not in exc.one_line()


@FAST
@given(st.text(max_size=300))
def test_arbitrary_text_raises_only_policy_error(text):
    _loads_or_policy_error(text)


@FAST
@given(st.binary(max_size=300))
def test_arbitrary_bytes_raise_only_policy_error(data):
    _loads_or_policy_error(data)


_TOKENS = [
    "version", "budgets", "eps", "extends", "min_clean_accuracy", "all_eps", "per_class",
    "class", ":", " ", "\n", "  ", "- ", "1", "0.5", "1e-3", ".nan", "&a", "*a", "<<", "? ",
    "[", "]", "{", "}", ",", "'", '"', "#", "|", ">", "\t", "~", "yes", "0x_", "1:30",
    "\x85", "\u2028", "---\n", "...\n", "%YAML 1.1\n", "%TAG ! tag:x,2000:\n", "!x",
    "!!str", "!!int 1.5", "!!bool maybe", "!!float x", "!!binary", "!!set", "!!omap",
    "!!python/object:os.system", "builtin:default", "builtin:x",
]  # fmt: skip


@FAST
@given(st.lists(st.sampled_from(_TOKENS), max_size=40))
def test_yaml_token_soup_raises_only_policy_error(tokens):
    _loads_or_policy_error("".join(tokens))


KEYS = [
    "version", "extends", "description", "min_clean_accuracy", "all_eps", "budgets", "input",
    "eps", "attack", "limit", "severity", "gate_on", "threshold", "count", "rate", "class",
    "per_class", "max_increase", "max_adversarial_error_rate", "max_attack_success_rate",
    "max_high_confidence_misclassifications", "max_accuracy_drop", "adversarial_error_rate",
    "attack_success_rate", "accuracy_drop", "layout", "input_range", "mean", "std",
    "image_size", "deployed_dtype", "fgsm", "warn", "upper_bound", "builtin:default",
]  # fmt: skip

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**30), 10**30),
    st.floats(),
    st.sampled_from(KEYS),
    st.text(max_size=20),
)
_trees = st.recursive(
    _scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.sampled_from(KEYS), children, max_size=5),
    ),
    max_leaves=25,
)


@FAST
@given(st.dictionaries(st.sampled_from(KEYS), _trees, max_size=6), st.booleans())
def test_policy_shaped_yaml_raises_only_policy_error(tree, with_version):
    if with_version:
        tree["version"] = 1
    _loads_or_policy_error(yaml.safe_dump(tree, allow_unicode=True))


def test_arbitrary_file_bytes_raise_only_policy_error():
    samples = [b"", b"\x00" * 10, b"version: 1\n\xc3\x28", b"\xff\xfe v\x00", b"version: [\n"]
    with tempfile.TemporaryDirectory() as tmp:
        for i, data in enumerate(samples):
            path = Path(tmp) / f"{i}.yaml"
            path.write_bytes(data)
            try:
                load_policy(path)
            except PolicyError as exc:
                assert exc.message.startswith(str(path))


# --- valid policies -------------------------------------------------------------------------

_rate = st.floats(min_value=0, max_value=1)
_severity = st.sampled_from(["fail", "warn"])
_gate = st.sampled_from(["point", "upper_bound"])
_limit = st.one_of(
    _rate,
    st.fixed_dictionaries({"limit": _rate}, optional={"severity": _severity, "gate_on": _gate}),
)
_increase = st.one_of(
    _rate, st.fixed_dictionaries({"limit": _rate}, optional={"severity": _severity})
)
_class_key = st.one_of(st.text(min_size=1, max_size=12), st.integers(0, 1000))


@st.composite
def _high_confidence(draw: Any) -> dict[str, Any]:
    spec = draw(
        st.fixed_dictionaries(
            {},
            optional={
                "threshold": st.floats(min_value=0, max_value=1, exclude_min=True),
                "severity": _severity,
            },
        )
    )
    which = draw(st.sampled_from(["count", "rate", "both"]))
    if which in ("count", "both"):
        spec["count"] = draw(st.integers(0, 10**9))
    if which in ("rate", "both"):
        spec["rate"] = draw(_rate)
        if draw(st.booleans()):
            spec["gate_on"] = draw(_gate)
    return spec


def _at_least_one(fixed: dict[str, Any], optional: dict[str, Any], keep: set[str]):
    return st.fixed_dictionaries(fixed, optional=optional).filter(
        lambda d: any(k not in keep for k in d)
    )


_class_rules = _at_least_one(
    {"class": _class_key},
    {
        "max_adversarial_error_rate": _limit,
        "max_high_confidence_misclassifications": _high_confidence(),
    },
    {"class"},
)
_max_increase = _at_least_one(
    {},
    {
        "adversarial_error_rate": _increase,
        "attack_success_rate": _increase,
        "accuracy_drop": _increase,
    },
    set(),
)
_RULES = {
    "attack": st.sampled_from(["fgsm", "noise"]),
    "max_adversarial_error_rate": _limit,
    "max_attack_success_rate": _limit,
    "max_high_confidence_misclassifications": _high_confidence(),
    "max_accuracy_drop": _limit,
    "per_class": st.lists(
        _class_rules, min_size=1, max_size=3, unique_by=lambda c: (type(c["class"]), c["class"])
    ),
    "max_increase": _max_increase,
}
_all_eps = _at_least_one({}, _RULES, {"attack"})
_budget = _at_least_one(
    {"eps": st.floats(min_value=1e-6, max_value=1e3)}, _RULES, {"attack", "eps"}
)


@st.composite
def _input(draw: Any) -> dict[str, Any]:
    channels = draw(st.integers(1, 4))
    finite = st.floats(-1e6, 1e6)
    lo = draw(finite)
    return draw(
        st.fixed_dictionaries(
            {},
            optional={
                "layout": st.sampled_from(["NCHW", "NHWC"]),
                "input_range": st.just([lo, lo + draw(st.floats(1e-3, 1e6))]),
                "mean": st.lists(finite, min_size=channels, max_size=channels),
                "std": st.lists(st.floats(1e-6, 1e6), min_size=channels, max_size=channels),
                "image_size": st.lists(st.integers(1, 4096), min_size=2, max_size=2),
                "deployed_dtype": st.sampled_from(["float32", "float16", "uint8"]),
            },
        )
    )


valid_policies = _at_least_one(
    {"version": st.just(1)},
    {
        "description": st.text(max_size=40),
        "min_clean_accuracy": _limit,
        "all_eps": _all_eps,
        "budgets": st.lists(
            _budget, min_size=1, max_size=3, unique_by=lambda b: (b.get("attack", "fgsm"), b["eps"])
        ),
        "input": _input(),
    },
    {"version", "description", "input"},
)  # fmt: skip


@settings(
    max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(valid_policies)
def test_valid_policies_round_trip_through_dump_and_load(raw):
    policy = Policy.model_validate(raw)
    as_written = parse_policy(_yaml.dump(raw))
    assert as_written == policy
    dumped = parse_policy(dump_policy(policy))
    assert dumped == policy
    assert canonical_dict(dumped) == canonical_dict(policy)
    assert policy_sha256(dumped) == policy_sha256(policy)


@settings(max_examples=40, deadline=None, database=None)
@given(valid_policies)
def test_extending_a_policy_without_overrides_changes_nothing(raw):
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp) / "base.yaml"
        base.write_text(_yaml.dump(raw), encoding="utf-8")
        child = Path(tmp) / "child.yaml"
        child.write_text("version: 1\nextends: base.yaml\n", encoding="utf-8")
        assert load_policy(child) == load_policy(base)
