"""Reading policy files: size, encoding, strict YAML, extends, built-ins and the JSON Schema."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from robustcheck.errors import PolicyError
from robustcheck.policy.load import (
    BUILTIN_POLICIES,
    MAX_POLICY_BYTES,
    STARTER,
    builtin_text,
    canonical_dict,
    dump_policy,
    load_builtin,
    load_policy,
    load_reference,
    parse_policy,
    policy_sha256,
)
from robustcheck.policy.schema import Limit, json_schema_text

ROOT = Path(__file__).resolve().parents[2]
BUILTIN_DIR = ROOT / "robustcheck" / "policy" / "builtin"
POLICIES = ROOT / "policies"

VALID = "version: 1\nmin_clean_accuracy: 0.5\n"


def load_error(path: Path) -> str:
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    return info.value.message


def text_error(text: str | bytes) -> str:
    with pytest.raises(PolicyError) as info:
        parse_policy(text, source="p.yaml")
    return info.value.message


# --- the file -----------------------------------------------------------------------------


def test_missing_file(tmp_path):
    assert load_error(tmp_path / "nope.yaml") == f"{tmp_path / 'nope.yaml'}: no such file"


def test_directory(tmp_path):
    assert load_error(tmp_path) == f"{tmp_path}: is a directory, not a policy file"


def test_oversize_file_is_refused_before_parsing(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_bytes(b"[" * (MAX_POLICY_BYTES + 1))
    assert load_error(path) == f"{path}: larger than 256 KiB; a policy is a short YAML file"


def test_file_at_the_size_cap_is_read(write_policy):
    path = write_policy(VALID + "#" * (MAX_POLICY_BYTES - len(VALID) - 1) + "\n")
    assert load_policy(path).min_clean_accuracy == Limit(limit=0.5)


def test_undecodable_bytes(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"version: 1\n# caf\xe9\n")
    assert load_error(path) == f"{path}: not UTF-8 text (invalid byte 0xe9 at offset 16)"


def test_utf8_bom_is_accepted(tmp_path):
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + VALID.encode())
    assert load_policy(path).min_clean_accuracy is not None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "p.yaml: the file is empty (start with `version: 1`)"),
        ("# only a comment\n", "p.yaml: the file is empty (start with `version: 1`)"),
        (
            "- version: 1\n",
            "p.yaml:1: the top level must be a mapping of keys (version, budgets, ...), not a list",
        ),
        (
            "just text\n",
            "p.yaml:1: the top level must be a mapping of keys (version, budgets, ...), not a single value",
        ),
    ],
)
def test_top_level_must_be_a_mapping(text, expected):
    assert text_error(text) == expected


# --- strict YAML ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (VALID + "version: 1\n", "p.yaml:3: duplicate key 'version' (first at line 1)"),
        (
            "version: 1\nall_eps:\n  max_accuracy_drop: 0.1\n  max_accuracy_drop: 0.2\n",
            "p.yaml:4: duplicate key 'max_accuracy_drop' (first at line 3)",
        ),
        (
            "version: 1\nmin_clean_accuracy: &floor 0.5\n",
            "p.yaml:2: anchor &floor is not allowed: write the value out",
        ),
        (
            "version: 1\nall_eps: &a {max_accuracy_drop: 0.1}\nmin_clean_accuracy: *a\n",
            "p.yaml:2: anchor &a is not allowed: write the value out",
        ),
        (
            "version: 1\nmin_clean_accuracy: *floor\n",
            "p.yaml:2: alias *floor is not allowed: write the value out",
        ),
        (
            "version: 1\nall_eps:\n  <<: {max_accuracy_drop: 0.1}\n",
            "p.yaml:3: merge keys (<<) are not allowed: write the keys out",
        ),
        (VALID + "1: x\n", "p.yaml:3: key '1' reads as int, not a string: quote it"),
        (VALID + "true: x\n", "p.yaml:3: key 'true' reads as bool, not a string: quote it"),
        (VALID + "? [a]\n: x\n", "p.yaml:3: a key must be a string, not a sequence"),
        (
            VALID + "description: !!python/object/apply:os.system [ls]\n",
            "p.yaml:3: tag python/object/apply:os.system is not allowed",
        ),
        (
            VALID + "description: !!python/name:os.system ''\n",
            "p.yaml:3: python/name:os.system values are not supported: quote the value",
        ),
        (
            VALID + "description: 2024-01-01\n",
            "p.yaml:3: timestamp values are not supported: quote the value",
        ),
        (VALID + "input: !!set {a}\n", "p.yaml:3: tag set is not allowed"),
        (VALID + "---\nversion: 1\n", "p.yaml:3:1: expected a single document in the stream, but found another document"),
        ("version: 1\nbudgets: [\n", "p.yaml:3:1: while parsing a flow node, expected the node content, but found '<stream end>'"),
        (VALID + "description: \x07\n", "p.yaml:3: unacceptable character #x0007: special characters are not allowed"),
        (VALID + "description: " + "[" * 40 + "]" * 40 + "\n", "p.yaml:3: nested deeper than 32 levels"),
        (VALID + "description: !!bool maybe\n", "p.yaml:3: tag !!bool is not allowed on 'maybe'"),
        (VALID + "description: !!str 12\n" + "input: {layout: !!str NCHW}\n", None),
    ],
)  # fmt: skip
def test_yaml_refusals_are_located(text, expected):
    if expected is None:
        assert parse_policy(text).description == "12"
    else:
        assert text_error(text) == expected


def test_echoed_keys_are_clipped():
    message = text_error(VALID + "k" * 1000 + ": 1\n")
    assert message.startswith("p.yaml:3: kkkk")
    assert "...: unknown key" in message
    assert len(message) < 260


def test_echoed_values_are_clipped():
    message = text_error("version: 1\nmin_clean_accuracy: '" + "9" * 10_000 + "'\n")
    assert len(message) < 200 and message.endswith("...")


# --- extends --------------------------------------------------------------------------------

BASE = """\
version: 1
min_clean_accuracy: {limit: 0.9, severity: warn}
all_eps:
  max_attack_success_rate: {limit: 0.5, severity: warn}
  max_accuracy_drop: 0.3
budgets:
  - eps: 0.1
    max_adversarial_error_rate: {limit: 0.3, gate_on: upper_bound}
    max_accuracy_drop: 0.2
    per_class:
      - {class: stop_sign, max_adversarial_error_rate: 0.2}
      - {class: 3, max_adversarial_error_rate: 0.4}
    max_increase: {adversarial_error_rate: 0.02}
input: {layout: NCHW, mean: [0.5], std: [0.25]}
"""


def test_child_overrides_parent_by_the_merge_rule(write_policy):
    write_policy(BASE, "base.yaml")
    child = write_policy(
        """\
version: 1
extends: base.yaml
description: child
all_eps:
  max_accuracy_drop: null
budgets:
  - eps: 0.1
    max_adversarial_error_rate: 0.25
    per_class:
      - {class: stop_sign, max_high_confidence_misclassifications: {count: 0}}
      - {class: '3', max_adversarial_error_rate: 0.5}
    max_increase: {accuracy_drop: 0.01}
  - eps: 0.3
    max_accuracy_drop: 0.5
input: {layout: NHWC}
""",
        "child.yaml",
    )
    resolved = canonical_dict(load_policy(child))
    assert resolved == {
        "version": 1,
        "description": "child",
        "min_clean_accuracy": {"limit": 0.9, "severity": "warn", "gate_on": "point"},
        "all_eps": {
            "attack": "fgsm",
            "max_attack_success_rate": {"limit": 0.5, "severity": "warn", "gate_on": "point"},
        },
        "budgets": [
            {
                "attack": "fgsm",
                "eps": 0.1,
                # a rule is replaced whole: gate_on upper_bound is not inherited
                "max_adversarial_error_rate": {"limit": 0.25, "severity": "fail", "gate_on": "point"},
                "max_accuracy_drop": {"limit": 0.2, "severity": "fail", "gate_on": "point"},
                "per_class": [
                    {
                        "class": "stop_sign",
                        "max_adversarial_error_rate": {"limit": 0.2, "severity": "fail", "gate_on": "point"},
                        "max_high_confidence_misclassifications": {
                            "threshold": 0.9, "count": 0, "severity": "fail", "gate_on": "point"
                        },
                    },
                    {
                        "class": 3,
                        "max_adversarial_error_rate": {"limit": 0.4, "severity": "fail", "gate_on": "point"},
                    },
                    {
                        "class": "3",
                        "max_adversarial_error_rate": {"limit": 0.5, "severity": "fail", "gate_on": "point"},
                    },
                ],
                "max_increase": {
                    "adversarial_error_rate": {"limit": 0.02, "severity": "fail"},
                    "accuracy_drop": {"limit": 0.01, "severity": "fail"},
                },
            },
            {
                "attack": "fgsm",
                "eps": 0.3,
                "max_accuracy_drop": {"limit": 0.5, "severity": "fail", "gate_on": "point"},
            },
        ],
        "input": {"layout": "NHWC", "mean": [0.5], "std": [0.25]},
    }  # fmt: skip


def test_null_removes_a_whole_section(write_policy):
    write_policy(BASE, "base.yaml")
    child = write_policy("version: 1\nextends: base.yaml\nbudgets: null\n", "child.yaml")
    policy = load_policy(child)
    assert policy.budgets is None and policy.all_eps is not None and policy.extends is None


def test_extends_is_relative_to_the_extending_file(write_policy, tmp_path):
    write_policy(BASE, "shared/base.yaml")
    write_policy("version: 1\nextends: shared/base.yaml\ndescription: middle\n", "middle.yaml")
    child = write_policy("version: 1\nextends: ../middle.yaml\n", "team/child.yaml")
    policy = load_policy(child)
    assert policy.description == "middle" and policy.eps_values() == [0.1]


def test_extends_a_builtin(write_policy):
    child = write_policy("version: 1\nextends: builtin:strict\nmin_clean_accuracy: 0.5\n")
    policy = load_policy(child)
    strict = load_builtin("strict")
    assert policy.all_eps == strict.all_eps
    assert policy.min_clean_accuracy == Limit(limit=0.5)


def test_parse_policy_can_extend_builtins_only():
    assert parse_policy("version: 1\nextends: builtin:default\n").all_eps is not None
    assert text_error("version: 1\nextends: base.yaml\n") == (
        "p.yaml:2: extends: 'base.yaml': a relative path needs a policy read from a file; "
        "use builtin:NAME"
    )


def test_circular_extends_is_located(write_policy):
    a = write_policy("version: 1\nextends: b.yaml\n", "a.yaml")
    b = write_policy("version: 1\ndescription: b\nextends: a.yaml\n", "b.yaml")
    assert (
        load_error(a)
        == f"{b}:3: extends: circular extends: {a} -> {b} -> {a} (extended from {a}:2)"
    )


def test_self_extends_is_circular(write_policy):
    a = write_policy("version: 1\nextends: ./a.yaml\n", "a.yaml")
    assert load_error(a) == f"{a}:2: extends: circular extends: {a} -> {a.parent / './a.yaml'}"


def test_extends_depth_is_capped(write_policy):
    write_policy(VALID, "p0.yaml")
    for i in range(1, 10):
        write_policy(f"version: 1\nextends: p{i - 1}.yaml\n", f"p{i}.yaml")
    top = write_policy("version: 1\nextends: p9.yaml\n", "p10.yaml")
    assert load_error(top) == (
        f"{top.parent / 'p2.yaml'}:2: extends: more than 8 levels of extends "
        f"(extended from {top.parent / 'p3.yaml'}:2)"
    )
    assert load_policy(top.parent / "p8.yaml").min_clean_accuracy == Limit(limit=0.5)


def test_missing_parent_is_located_in_the_child(write_policy):
    child = write_policy("version: 1\nextends: gone.yaml\n", "child.yaml")
    assert (
        load_error(child) == f"{child.parent / 'gone.yaml'}: no such file (extended from {child}:2)"
    )


def test_invalid_parent_is_located_in_the_parent(write_policy):
    base = write_policy("version: 1\nmin_clean_accuracy: 2\n", "base.yaml")
    child = write_policy("version: 1\nextends: base.yaml\n", "child.yaml")
    assert load_error(child) == (
        f"{base}:2: min_clean_accuracy: Input should be less than or equal to 1 "
        f"(extended from {child}:2)"
    )


def test_child_alone_is_validated_with_lines(write_policy):
    write_policy(BASE, "base.yaml")
    child = write_policy("version: 1\nextends: base.yaml\nall_eps: {max_accuracy_drop: 7}\n")
    assert load_error(child) == (
        f"{child}:3: all_eps.max_accuracy_drop: Input should be less than or equal to 1"
    )


def test_merged_result_is_validated_too(write_policy):
    write_policy(BASE, "base.yaml")
    child = write_policy("version: 1\nextends: base.yaml\ninput: {std: [0.2, 0.2, 0.2]}\n")
    assert load_error(child) == (
        f"{child} (merged with its extends): input: mean has 1 values but std has 3: one per channel"
    )


def test_unknown_builtin(write_policy):
    child = write_policy("version: 1\nextends: builtin:lenient\n")
    assert load_error(child) == (
        f"{child}:2: extends: no built-in policy 'lenient' (choose from default, strict, paper-mnist)"
    )
    with pytest.raises(PolicyError, match="no built-in policy 'nope'"):
        load_builtin("nope")


# --- built-in policies, examples and the JSON Schema ----------------------------------------


@pytest.mark.parametrize("name", BUILTIN_POLICIES)
def test_builtins_load_and_have_identical_copies_in_policies(name):
    policy = load_builtin(name)
    assert (POLICIES / f"{name}.yaml").read_bytes() == (BUILTIN_DIR / f"{name}.yaml").read_bytes()
    assert load_policy(POLICIES / f"{name}.yaml") == policy
    assert load_reference(f"builtin:{name}") == policy


@pytest.mark.parametrize("name", BUILTIN_POLICIES)
def test_builtins_comment_every_field(name):
    lines = builtin_text(name).splitlines()
    for i, line in enumerate(lines):
        stripped = line.strip()
        if stripped and not stripped.startswith("#") and i > 0:
            above = lines[i - 1].strip()
            assert above.startswith("#") or stripped.startswith("- eps"), f"{name}:{i + 1}: {line}"


def test_default_policy_works_for_any_eps():
    policy = load_builtin("default")
    assert policy.eps_values() == [] and policy.all_eps is not None
    assert policy.min_clean_accuracy is not None and policy.min_clean_accuracy.severity == "fail"


def test_paper_mnist_budgets_follow_the_paper():
    assert load_builtin("paper-mnist").eps_values() == [0.1, 0.25]


def test_every_example_policy_is_valid():
    files = sorted(POLICIES.rglob("*.yaml"))
    assert len(files) >= 4
    for path in files:
        load_policy(path)


def test_starter_policy_is_valid():
    assert parse_policy(builtin_text(STARTER)).eps_values() == [0.1]


def test_json_schema_file_matches_the_model():
    checked_in = (POLICIES / "robustcheck-policy.schema.json").read_text(encoding="utf-8")
    assert checked_in == json_schema_text(), (
        "policies/robustcheck-policy.schema.json is stale: run "
        "robustcheck policy schema > policies/robustcheck-policy.schema.json"
    )
    schema = json.loads(checked_in)
    assert schema["required"] == ["version"] and schema["additionalProperties"] is False


# --- canonical form -------------------------------------------------------------------------


def test_sha256_is_equal_for_equivalent_spellings():
    a = parse_policy("version: 1\nmin_clean_accuracy: 0.5\n")
    b = parse_policy("version: 1\nmin_clean_accuracy: {limit: 0.5, severity: fail}  # same\n")
    c = parse_policy("version: 1\nmin_clean_accuracy: 0.6\n")
    assert policy_sha256(a) == policy_sha256(b) != policy_sha256(c)
    assert len(policy_sha256(a)) == 64


@pytest.mark.parametrize("name", [*BUILTIN_POLICIES, STARTER])
def test_dump_loads_back_to_the_same_policy(name):
    policy = parse_policy(builtin_text(name))
    again = parse_policy(dump_policy(policy))
    assert again == policy and policy_sha256(again) == policy_sha256(policy)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("010", 10),  # YAML 1.1: 8
        ("0o10", 8),
        ("0x1F", 31),
        ("1e-3", 0.001),
        (".inf", float("inf")),
        ("1:30", "1:30"),  # YAML 1.1: 90
        ("yes", "yes"),  # YAML 1.1: True
        ("1_000", "1_000"),  # YAML 1.1: 1000
        ("true", True),
        ("~", None),
    ],
)
def test_scalars_follow_the_yaml_1_2_core_schema(text, value):
    from robustcheck._yaml import dump, parse

    assert parse(f"a: {text}\n").data == {"a": value}
    assert parse(dump({"a": value})).data == {"a": value}
