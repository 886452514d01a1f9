"""Every field of the policy schema: a passing and a failing case with its exact located error."""

from __future__ import annotations

import math

import pytest

from robustcheck.errors import PolicyError
from robustcheck.exit_codes import ExitCode
from robustcheck.policy.load import parse_policy
from robustcheck.policy.schema import (
    Budget,
    HighConfidenceLimit,
    Limit,
    Policy,
    max_error_rate_policy,
)

V = "version: 1\n"
FLOOR = "min_clean_accuracy: 0.5\n"


def budget(*rules: str, eps: str = "0.1") -> str:
    """A policy with one budget; each rule line lands on lines 4, 5, ..."""
    return V + f"budgets:\n  - eps: {eps}\n" + "".join(f"    {r}\n" for r in rules)


def per_class(*lines: str) -> str:
    """One budget with a per_class list starting on line 5."""
    return budget("per_class:", *(f"  {line}" for line in lines))


def error_of(text: str) -> str:
    with pytest.raises(PolicyError) as info:
        parse_policy(text, source="p.yaml")
    assert info.value.exit_code == ExitCode.INPUT_ERROR
    return info.value.message


VALID = [
    pytest.param(V + FLOOR, id="minimal"),
    pytest.param(V + "extends: builtin:default\n", id="extends-builtin"),
    pytest.param(V + "description: text\n" + FLOOR, id="description"),
    pytest.param(V + "min_clean_accuracy: 1\n", id="min_clean_accuracy-int"),
    pytest.param(
        V + "min_clean_accuracy: {limit: 0.9, severity: warn, gate_on: upper_bound}\n",
        id="limit-mapping",
    ),
    pytest.param(V + "all_eps: {max_attack_success_rate: 0.5}\n", id="all_eps"),
    pytest.param(V + "all_eps: {attack: noise, max_accuracy_drop: 0.1}\n", id="all_eps-noise"),
    pytest.param(budget("max_adversarial_error_rate: 0"), id="adversarial-error-rate"),
    pytest.param(budget("max_attack_success_rate: 1.0"), id="attack-success-rate"),
    pytest.param(budget("max_accuracy_drop: {limit: 0.2}"), id="accuracy-drop"),
    pytest.param(budget("attack: noise", "max_accuracy_drop: 0.2"), id="attack-noise"),
    pytest.param(budget("max_adversarial_error_rate: 0.3", eps="1e-3"), id="eps-exponent"),
    pytest.param(budget("max_adversarial_error_rate: 0.3", eps="8"), id="eps-int"),
    pytest.param(
        budget("max_high_confidence_misclassifications: {count: 0}"), id="high-confidence-count"
    ),
    pytest.param(
        budget(
            "max_high_confidence_misclassifications: "
            "{rate: 0.01, threshold: 0.5, severity: warn, gate_on: upper_bound}"
        ),
        id="high-confidence-rate",
    ),
    pytest.param(
        per_class(
            "- class: stop_sign",
            "  max_high_confidence_misclassifications: {count: 0, threshold: 0.9}",
            "- class: 3",
            "  max_adversarial_error_rate: 0.2",
        ),
        id="per-class",
    ),
    pytest.param(
        budget(
            "max_increase: {adversarial_error_rate: 0.02, attack_success_rate: {limit: 0.05, "
            "severity: warn}, accuracy_drop: 0.01}"
        ),
        id="max-increase",
    ),
    pytest.param(
        V
        + FLOOR
        + "input: {layout: NHWC, input_range: [0, 255], mean: [0.5, 0.5, 0.5], "
        + "std: [0.2, 0.2, 0.2], image_size: [32, 32], deployed_dtype: uint8}\n",
        id="input",
    ),
    pytest.param(V + FLOOR + "input: {}\n", id="input-empty"),
]


@pytest.mark.parametrize("text", VALID)
def test_valid_policies_load(text):
    assert isinstance(parse_policy(text, source="p.yaml"), Policy)


INVALID = [
    # version
    ("min_clean_accuracy: 0.5\n", "p.yaml:1: version: Field required (start with `version: 1`)"),
    ("version: 2\n" + FLOOR, "p.yaml:1: version: Input should be 1"),
    ("version: true\n" + FLOOR, "p.yaml:1: version: version must be the integer 1"),
    ("version: 1.0\n" + FLOOR, "p.yaml:1: version: version must be the integer 1"),
    ("version: '1'\n" + FLOOR, "p.yaml:1: version: Input should be 1"),
    # extends, description
    (V + "extends: 3\n", "p.yaml:2: extends: Input should be a valid string"),
    (V + "extends: ''\n", "p.yaml:2: extends: String should have at least 1 character"),
    (V + "description: 5\n" + FLOOR, "p.yaml:2: description: Input should be a valid string"),
    # the policy as a whole
    (V, "p.yaml:1: the policy sets no rules: add budgets, all_eps or min_clean_accuracy"),
    (V + "min_clean_acuracy: 0.5\n", "p.yaml:2: min_clean_acuracy: unknown key (did you mean 'min_clean_accuracy'?)"),
    # a limit
    (V + "min_clean_accuracy: 1.5\n", "p.yaml:2: min_clean_accuracy: Input should be less than or equal to 1"),
    (V + "min_clean_accuracy: -0.5\n", "p.yaml:2: min_clean_accuracy: Input should be greater than or equal to 0"),
    (V + "min_clean_accuracy: .nan\n", "p.yaml:2: min_clean_accuracy: Input should be a finite number"),
    (V + "min_clean_accuracy: .inf\n", "p.yaml:2: min_clean_accuracy: Input should be a finite number"),
    (V + "min_clean_accuracy: {limit: .nan}\n", "p.yaml:2: min_clean_accuracy.limit: Input should be a finite number"),
    (V + "min_clean_accuracy: '0.5'\n", "p.yaml:2: min_clean_accuracy: expected a number or a mapping with `limit`, got '0.5'"),
    (V + "min_clean_accuracy: [0.5]\n", "p.yaml:2: min_clean_accuracy: expected a number or a mapping with `limit`, got [0.5]"),
    (V + "min_clean_accuracy: {severity: warn}\n", "p.yaml:2: min_clean_accuracy.limit: Field required"),
    (V + "min_clean_accuracy: {limit: 0.5, severity: error}\n", "p.yaml:2: min_clean_accuracy.severity: Input should be 'fail' or 'warn'"),
    (V + "min_clean_accuracy: {limit: 0.5, gate_on: lower}\n", "p.yaml:2: min_clean_accuracy.gate_on: Input should be 'point' or 'upper_bound'"),
    (V + "min_clean_accuracy: {limit: 0.5, max: 1}\n", "p.yaml:2: min_clean_accuracy.max: unknown key (allowed here: limit, severity, gate_on)"),
    # budgets
    (V + "budgets: []\n", "p.yaml:2: budgets: List should have at least 1 item after validation, not 0"),
    (V + "budgets: {eps: 0.1}\n", "p.yaml:2: budgets: Input should be a valid list"),
    (budget(), "p.yaml:3: budgets[0]: set at least one rule: max_adversarial_error_rate, max_attack_success_rate, max_high_confidence_misclassifications, max_accuracy_drop, per_class, max_increase"),
    (budget("max_accuracy_drop: 0.1", eps="-0.1"), "p.yaml:3: budgets[0].eps: Input should be greater than 0"),
    (budget("max_accuracy_drop: 0.1", eps="0"), "p.yaml:3: budgets[0].eps: Input should be greater than 0"),
    (budget("max_accuracy_drop: 0.1", eps="'0.1'"), "p.yaml:3: budgets[0].eps: Input should be a valid number"),
    (budget("max_accuracy_drop: 0.1", eps="true"), "p.yaml:3: budgets[0].eps: Input should be a valid number"),
    (budget("max_accuracy_drop: 0.1", eps=".nan"), "p.yaml:3: budgets[0].eps: Input should be a finite number"),
    (budget("max_accuracy_drop: 0.1", eps="-.inf"), "p.yaml:3: budgets[0].eps: Input should be a finite number"),
    (V + "budgets:\n  - max_accuracy_drop: 0.1\n", "p.yaml:3: budgets[0]: set exactly one of eps (an L∞ budget) and tokens (a token budget)"),
    (
        V + "budgets:\n  - {eps: 0.1, max_accuracy_drop: 0.1}\n  - {eps: 0.1, max_accuracy_drop: 0.2}\n",
        "p.yaml:2: budgets: budgets[0] and budgets[1] both set fgsm eps=0.1: merge them",
    ),
    (budget("attack: PGD", "max_accuracy_drop: 0.1"), "p.yaml:4: budgets[0].attack: expected an attack's label (a lower-case name such as pgd) or * for every attack that ran, got 'PGD'"),
    (budget("max_adversarial_error_rate: -0.1"), "p.yaml:4: budgets[0].max_adversarial_error_rate: Input should be greater than or equal to 0"),
    (budget("max_adverserial_error_rate: 0.3"), "p.yaml:4: budgets[0].max_adverserial_error_rate: unknown key (did you mean 'max_adversarial_error_rate'?)"),
    (budget("max_attack_success_rate: true"), "p.yaml:4: budgets[0].max_attack_success_rate: expected a number or a mapping with `limit`, got True"),
    (budget("max_accuracy_drop: {limit: 0.2, gate_on: upper}"), "p.yaml:4: budgets[0].max_accuracy_drop.gate_on: Input should be 'point' or 'upper_bound'"),
    # high-confidence limits
    (budget("max_high_confidence_misclassifications: 0"), "p.yaml:4: budgets[0].max_high_confidence_misclassifications: expected a mapping such as {count: 0, threshold: 0.9} or {rate: 0.01}, got 0"),
    (budget("max_high_confidence_misclassifications: {threshold: 0.9}"), "p.yaml:4: budgets[0].max_high_confidence_misclassifications: set `count`, `rate` or both"),
    (budget("max_high_confidence_misclassifications: {count: -1}"), "p.yaml:4: budgets[0].max_high_confidence_misclassifications.count: Input should be greater than or equal to 0"),
    (budget("max_high_confidence_misclassifications: {count: 1.5}"), "p.yaml:4: budgets[0].max_high_confidence_misclassifications.count: Input should be a valid integer"),
    (budget("max_high_confidence_misclassifications: {rate: 2}"), "p.yaml:4: budgets[0].max_high_confidence_misclassifications.rate: Input should be less than or equal to 1"),
    (budget("max_high_confidence_misclassifications: {count: 0, threshold: 0}"), "p.yaml:4: budgets[0].max_high_confidence_misclassifications.threshold: Input should be greater than 0"),
    (budget("max_high_confidence_misclassifications: {count: 0, threshold: 1.5}"), "p.yaml:4: budgets[0].max_high_confidence_misclassifications.threshold: Input should be less than or equal to 1"),
    (budget("max_high_confidence_misclassifications: {count: 0, severity: info}"), "p.yaml:4: budgets[0].max_high_confidence_misclassifications.severity: Input should be 'fail' or 'warn'"),
    (budget("max_high_confidence_misclassifications: {count: 0, gate_on: upper_bound}"), "p.yaml:4: budgets[0].max_high_confidence_misclassifications: `gate_on: upper_bound` needs `rate`: a count has no interval"),
    # per_class
    (budget("per_class: []"), "p.yaml:4: budgets[0].per_class: List should have at least 1 item after validation, not 0"),
    (per_class("- class: a"), "p.yaml:5: budgets[0].per_class[0]: set max_adversarial_error_rate or max_high_confidence_misclassifications"),
    (per_class("- max_adversarial_error_rate: 0.1"), "p.yaml:5: budgets[0].per_class[0].class: Field required"),
    (per_class("- class: 1.5", "  max_adversarial_error_rate: 0.1"), "p.yaml:5: budgets[0].per_class[0].class: expected a class name (string) or an integer label, got 1.5"),
    (per_class("- class: -1", "  max_adversarial_error_rate: 0.1"), "p.yaml:5: budgets[0].per_class[0].class: a label is at least 0"),
    (per_class("- class: ''", "  max_adversarial_error_rate: 0.1"), "p.yaml:5: budgets[0].per_class[0].class: a class name is not empty"),
    (per_class("- class: true", "  max_adversarial_error_rate: 0.1"), "p.yaml:5: budgets[0].per_class[0].class: got a boolean: quote class names such as 'true' or 'false'"),
    (per_class("- class: a", "  max_adversarial_error_rate: 2"), "p.yaml:6: budgets[0].per_class[0].max_adversarial_error_rate: Input should be less than or equal to 1"),
    (per_class("- class: a", "  max_high_confidence_misclassifications: {count: x}"), "p.yaml:6: budgets[0].per_class[0].max_high_confidence_misclassifications.count: Input should be a valid integer"),
    (per_class("- class: a", "  max_accuracy_drop: 0.1"), "p.yaml:6: budgets[0].per_class[0].max_accuracy_drop: unknown key (allowed here: class, max_adversarial_error_rate, max_high_confidence_misclassifications)"),
    (
        per_class("- {class: a, max_adversarial_error_rate: 0.1}", "- {class: a, max_adversarial_error_rate: 0.2}"),
        "p.yaml:4: budgets[0].per_class: entry 1 repeats class 'a': merge them",
    ),
    # max_increase
    (budget("max_increase: {}"), "p.yaml:4: budgets[0].max_increase: set at least one of adversarial_error_rate, attack_success_rate, accuracy_drop"),
    (budget("max_increase: {adversarial_error_rate: 1.5}"), "p.yaml:4: budgets[0].max_increase.adversarial_error_rate: Input should be less than or equal to 1"),
    (budget("max_increase: {attack_success_rate: -0.1}"), "p.yaml:4: budgets[0].max_increase.attack_success_rate: Input should be greater than or equal to 0"),
    (budget("max_increase: {accuracy_drop: {limit: 0.1, severity: x}}"), "p.yaml:4: budgets[0].max_increase.accuracy_drop.severity: Input should be 'fail' or 'warn'"),
    (budget("max_increase: {adversarial_error_rate: {limit: 0.02, gate_on: upper_bound}}"), "p.yaml:4: budgets[0].max_increase.adversarial_error_rate.gate_on: unknown key (allowed here: limit, severity)"),
    # all_eps
    (V + "all_eps: {}\n", "p.yaml:2: all_eps: set at least one rule: max_adversarial_error_rate, max_attack_success_rate, max_high_confidence_misclassifications, max_accuracy_drop, per_class, max_increase"),
    (V + "all_eps: {eps: 0.1, max_accuracy_drop: 0.1}\n", "p.yaml:2: all_eps.eps: unknown key (allowed here: attack, max_adversarial_error_rate, max_attack_success_rate, max_high_confidence_misclassifications, max_accuracy_drop, per_class, max_increase)"),
    (V + "all_eps: [max_accuracy_drop]\n", "p.yaml:2: all_eps: Input should be a valid dictionary or instance of AllEps"),
    # input
    (V + FLOOR + "input: {layout: CHW}\n", "p.yaml:3: input.layout: Input should be 'NCHW' or 'NHWC'"),
    (V + FLOOR + "input: {input_range: [1, 0]}\n", "p.yaml:3: input: input_range: lo must be less than hi"),
    (V + FLOOR + "input: {input_range: [0]}\n", "p.yaml:3: input.input_range: List should have at least 2 items after validation, not 1"),
    (V + FLOOR + "input: {input_range: [0, .inf]}\n", "p.yaml:3: input.input_range[1]: Input should be a finite number"),
    (V + FLOOR + "input: {mean: []}\n", "p.yaml:3: input.mean: List should have at least 1 item after validation, not 0"),
    (V + FLOOR + "input: {mean: [0.5], std: [0.2, 0.3]}\n", "p.yaml:3: input: mean has 1 values but std has 2: one per channel"),
    (V + FLOOR + "input: {std: [0.2, 0]}\n", "p.yaml:3: input.std[1]: Input should be greater than 0"),
    (V + FLOOR + "input: {image_size: [0, 28]}\n", "p.yaml:3: input.image_size[0]: Input should be greater than or equal to 1"),
    (V + FLOOR + "input: {image_size: [28]}\n", "p.yaml:3: input.image_size: List should have at least 2 items after validation, not 1"),
    (V + FLOOR + "input: {image_size: [28.0, 28]}\n", "p.yaml:3: input.image_size[0]: Input should be a valid integer"),
    (V + FLOOR + "input: {deployed_dtype: int8}\n", "p.yaml:3: input.deployed_dtype: Input should be 'float32', 'float16' or 'uint8'"),
    (V + FLOOR + "input: {resize: 3}\n", "p.yaml:3: input.resize: unknown key (allowed here: layout, input_range, mean, std, image_size, deployed_dtype)"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), INVALID)
def test_invalid_policies_give_located_errors(text, expected):
    assert error_of(text) == expected


def test_all_errors_are_reported_at_once_in_file_order():
    text = budget("max_adversarial_error_rate: .nan", "bogus: 1", eps="-1")
    assert error_of(text) == (
        "p.yaml:3: budgets[0].eps: Input should be greater than 0; "
        "p.yaml:4: budgets[0].max_adversarial_error_rate: Input should be a finite number; "
        "p.yaml:5: budgets[0].bogus: unknown key (allowed here: attack, max_adversarial_error_rate, "
        "max_attack_success_rate, max_high_confidence_misclassifications, max_accuracy_drop, "
        "per_class, max_increase, eps, tokens)"
    )


def test_bare_number_and_mapping_are_the_same_limit():
    bare = parse_policy(budget("max_adversarial_error_rate: 0.3"))
    mapping = parse_policy(
        budget("max_adversarial_error_rate: {limit: 0.3, severity: fail, gate_on: point}")
    )
    assert bare == mapping
    assert bare.budgets is not None
    assert bare.budgets[0].max_adversarial_error_rate == Limit(limit=0.3)


def test_exponent_floats_are_numbers():
    policy = parse_policy(budget("max_adversarial_error_rate: 5e-2", eps="1e-3"))
    assert policy.budgets is not None
    assert policy.budgets[0].eps == pytest.approx(1e-3)
    limit = policy.budgets[0].max_adversarial_error_rate
    assert limit is not None and limit.limit == pytest.approx(0.05)


def test_eps_values_and_thresholds_cover_every_rule():
    policy = parse_policy(
        V
        + "all_eps: {max_high_confidence_misclassifications: {count: 0, threshold: 0.8}}\n"
        + "budgets:\n"
        + "  - eps: 0.25\n"
        + "    max_high_confidence_misclassifications: {rate: 0.1}\n"
        + "  - eps: 0.1\n"
        + "    per_class:\n"
        + "      - {class: a, max_high_confidence_misclassifications: {count: 0, threshold: 0.99}}\n"
        + "  - {eps: 0.1, attack: noise, max_accuracy_drop: 0.1}\n"
    )
    assert policy.eps_values() == [0.1, 0.25]
    assert policy.high_confidence_thresholds() == {0.8, 0.9, 0.99}


def test_max_error_rate_policy_has_one_budget_per_eps_for_every_attack():
    policy = max_error_rate_policy([0.1, 0.3], 0.5)
    assert policy.eps_values() == [0.1, 0.3]
    assert policy.budgets == [
        Budget(attack="*", eps=0.1, max_adversarial_error_rate=Limit(limit=0.5)),
        Budget(attack="*", eps=0.3, max_adversarial_error_rate=Limit(limit=0.5)),
    ]


def test_python_construction_is_strict_too():
    with pytest.raises(ValueError, match="finite"):
        Limit(limit=math.nan)
    with pytest.raises(ValueError, match="count"):
        HighConfidenceLimit(threshold=0.9)
