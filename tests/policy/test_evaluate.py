"""Evaluating policies on hand-built results: every rule, every status, gate_on, baselines."""

from __future__ import annotations

import pytest

from robustcheck.policy.evaluate import evaluate, verdict
from robustcheck.policy.load import load_builtin, parse_policy
from robustcheck.policy.schema import Policy, max_error_rate_policy
from robustcheck.reports.model import Check


def policy(body: str) -> Policy:
    return parse_policy("version: 1\n" + body)


def budget(*rules: str, eps: float = 0.1) -> Policy:
    return policy(f"budgets:\n  - eps: {eps}\n" + "".join(f"    {r}\n" for r in rules))


def only(checks: list[Check]) -> Check:
    assert len(checks) == 1, checks
    return checks[0]


# --- adversarial error rate, severity, gate_on ----------------------------------------------


def test_adversarial_error_rate_fail(make_result):
    check = only(
        evaluate(budget("max_adversarial_error_rate: 0.3"), [make_result(adversarial_errors=45)])
    )
    assert check == Check(
        rule="max_adversarial_error_rate",
        attack="fgsm",
        eps=0.1,
        severity="fail",
        gate_on="point",
        observed=0.45,
        limit=0.3,
        status="fail",
        message="fgsm eps=0.1: adversarial error rate 45.0% > limit 30.0%",
    )


def test_adversarial_error_rate_pass_at_exactly_the_limit(make_result):
    check = only(
        evaluate(budget("max_adversarial_error_rate: 0.3"), [make_result(adversarial_errors=30)])
    )
    assert check.status == "pass"
    assert check.message == "fgsm eps=0.1: adversarial error rate 30.0% <= limit 30.0%"


def test_warn_severity_gives_warn(make_result):
    check = only(
        evaluate(
            budget("max_adversarial_error_rate: {limit: 0.3, severity: warn}"),
            [make_result(adversarial_errors=45)],
        )
    )
    assert (check.status, check.severity) == ("warn", "warn")


def test_upper_bound_flips_a_small_sample_from_pass_to_fail(make_result):
    small = [make_result(n=10, clean_correct=10, adversarial_errors=2)]
    point = only(evaluate(budget("max_adversarial_error_rate: 0.3"), small))
    assert point.status == "pass" and point.observed == pytest.approx(0.2)
    bound = only(
        evaluate(budget("max_adversarial_error_rate: {limit: 0.3, gate_on: upper_bound}"), small)
    )
    assert bound.status == "fail" and bound.gate_on == "upper_bound"
    assert bound.observed == pytest.approx(0.5098375284633583)
    assert bound.message == (
        "fgsm eps=0.1: adversarial error rate 20.0% (95% upper 51.0%) > limit 30.0%"
    )


def test_upper_bound_passes_a_large_sample_with_the_same_rate(make_result):
    large = [make_result(n=10_000, clean_correct=10_000, adversarial_errors=2_000)]
    check = only(
        evaluate(budget("max_adversarial_error_rate: {limit: 0.3, gate_on: upper_bound}"), large)
    )
    assert check.status == "pass"
    assert check.message == (
        "fgsm eps=0.1: adversarial error rate 20.0% (95% upper 20.8%) <= limit 30.0%"
    )


# --- attack success rate --------------------------------------------------------------------


def test_attack_success_rate_pass_and_fail(make_result):
    result = make_result(clean_correct=90, adversarial_errors=40, flipped=30)
    rule = budget("max_attack_success_rate: 0.3")
    fail = only(evaluate(rule, [result]))
    assert fail.status == "fail" and fail.observed == pytest.approx(30 / 90)
    assert fail.message == "fgsm eps=0.1: attack success rate 33.3% > limit 30.0%"
    assert only(evaluate(budget("max_attack_success_rate: 0.34"), [result])).status == "pass"


def test_attack_success_rate_without_clean_correct_samples_is_error(make_result):
    result = make_result(clean_correct=0, adversarial_errors=100, flipped=0)
    check = only(evaluate(budget("max_attack_success_rate: 0.3"), [result]))
    assert check.status == "error" and check.observed is None
    assert check.message == (
        "fgsm eps=0.1: max_attack_success_rate not evaluated: no sample was classified "
        "correctly before the attack, so the attack success rate is undefined"
    )


# --- high-confidence misclassifications -----------------------------------------------------


def test_high_confidence_count_and_rate_are_two_checks(make_result):
    result = make_result(adversarial_errors=40, high_confidence=(3, 20))
    checks = evaluate(
        budget("max_high_confidence_misclassifications: {count: 0, rate: 0.05}"), [result]
    )
    assert [(c.rule, c.status, c.observed, c.limit) for c in checks] == [
        ("max_high_confidence_misclassifications.count", "fail", 3.0, 0.0),
        ("max_high_confidence_misclassifications.rate", "pass", 0.03, 0.05),
    ]
    assert checks[0].message == (
        "fgsm eps=0.1: high-confidence (≥ 0.9) misclassifications 3 > limit 0"
    )
    assert checks[1].message == (
        "fgsm eps=0.1: high-confidence (≥ 0.9) misclassification rate 3.0% <= limit 5.0%"
    )


def test_high_confidence_uses_the_rules_own_threshold(make_result):
    result = make_result(adversarial_errors=40, high_confidence=(3, 20))
    check = only(
        evaluate(
            budget("max_high_confidence_misclassifications: {count: 10, threshold: 0.5}"), [result]
        )
    )
    assert (check.status, check.observed) == ("fail", 20.0)


def test_high_confidence_rate_upper_bound(make_result):
    result = make_result(adversarial_errors=40, high_confidence=(3, 20))
    rule = "max_high_confidence_misclassifications: {rate: 0.05, gate_on: upper_bound}"
    check = only(evaluate(budget(rule), [result]))
    assert check.status == "fail" and check.observed == pytest.approx(0.0845193642905276)


def test_untracked_threshold_is_error(make_result):
    check = only(
        evaluate(
            budget("max_high_confidence_misclassifications: {count: 0, threshold: 0.99}"),
            [make_result()],
        )
    )
    assert check.status == "error"
    assert check.message == (
        "fgsm eps=0.1: max_high_confidence_misclassifications.count not evaluated: "
        "the scan did not track threshold 0.99 (tracked: 0.9, 0.5)"
    )


# --- accuracy drop --------------------------------------------------------------------------


def test_accuracy_drop_pass_at_the_limit_and_fail_above(make_result):
    at_limit = make_result(clean_correct=90, adversarial_errors=40)
    check = only(evaluate(budget("max_accuracy_drop: 0.3"), [at_limit]))
    assert check.status == "pass" and check.observed == pytest.approx(0.3)
    assert check.message == (
        "fgsm eps=0.1: accuracy drop 30.0% (90.0% clean -> 60.0% adversarial accuracy) "
        "<= limit 30.0%"
    )
    above = make_result(clean_correct=90, adversarial_errors=41)
    assert only(evaluate(budget("max_accuracy_drop: 0.3"), [above])).status == "fail"


def test_accuracy_drop_upper_bound_uses_flipped_samples(make_result):
    result = make_result(n=100, clean_correct=100, adversarial_errors=30)
    rule = budget("max_accuracy_drop: {limit: 0.35, gate_on: upper_bound}")
    check = only(evaluate(rule, [result]))
    assert check.status == "fail" and check.observed == pytest.approx(0.3958485463334666)


# --- min clean accuracy ---------------------------------------------------------------------


def test_min_clean_accuracy_pass_fail_and_lower_bound(make_result):
    result = make_result(n=10, clean_correct=9)
    assert only(evaluate(policy("min_clean_accuracy: 0.9\n"), [result])).status == "pass"
    fail = only(evaluate(policy("min_clean_accuracy: 0.95\n"), [result]))
    assert fail == Check(
        rule="min_clean_accuracy",
        severity="fail",
        gate_on="point",
        observed=0.9,
        limit=0.95,
        status="fail",
        message="clean: clean accuracy 90.0% < limit 95.0%",
    )
    lower = only(
        evaluate(policy("min_clean_accuracy: {limit: 0.9, gate_on: upper_bound}\n"), [result])
    )
    assert lower.status == "fail" and lower.observed == pytest.approx(0.5958499732047615)
    assert lower.message == "clean: clean accuracy 90.0% (95% lower 59.6%) < limit 90.0%"


def test_min_clean_accuracy_without_results_is_error():
    check = only(evaluate(policy("min_clean_accuracy: 0.5\n"), []))
    assert check.status == "error"
    assert check.message == (
        "clean: min_clean_accuracy not evaluated: no results to measure clean accuracy on"
    )


# --- per class ------------------------------------------------------------------------------

PER_CLASS = """\
budgets:
  - eps: 0.1
    per_class:
      - class: {key}
        max_adversarial_error_rate: 0.2
        max_high_confidence_misclassifications: {{count: 0, threshold: 0.9}}
"""


@pytest.fixture
def classes(make_result, make_class):
    return make_result(
        n=20,
        clean_correct=20,
        adversarial_errors=5,
        per_class=[
            make_class(0, n=10, errors=1, high_confidence=(0, 0)),
            make_class(1, n=10, errors=4, high_confidence=(1, 3)),
            make_class(2, n=0, clean_correct=0),
        ],
    )


def test_per_class_by_name(classes):
    checks = evaluate(
        policy(PER_CLASS.format(key="stop_sign")),
        [classes],
        class_names=["cat", "stop_sign", "dog"],
    )
    assert [(c.rule, c.label, c.class_name, c.status, c.observed) for c in checks] == [
        ("per_class.max_adversarial_error_rate", 1, "stop_sign", "fail", 0.4),
        ("per_class.max_high_confidence_misclassifications.count", 1, "stop_sign", "fail", 1.0),
    ]
    assert checks[0].message == (
        "fgsm eps=0.1 class 1 ('stop_sign'): adversarial error rate 40.0% > limit 20.0%"
    )
    assert checks[1].message == (
        "fgsm eps=0.1 class 1 ('stop_sign'): high-confidence (≥ 0.9) misclassifications 1 > limit 0"
    )


def test_per_class_by_name_from_the_results(make_result, make_class):
    result = make_result(n=10, per_class=[make_class(0, n=10, errors=1, name="stop_sign")])
    checks = evaluate(policy(PER_CLASS.format(key="stop_sign")), [result])
    assert [(c.label, c.class_name, c.status) for c in checks] == [
        (0, "stop_sign", "pass"),
        (0, "stop_sign", "pass"),
    ]


def test_per_class_by_label(classes):
    checks = evaluate(policy(PER_CLASS.format(key=0)), [classes])
    assert [(c.label, c.class_name, c.status, c.observed) for c in checks] == [
        (0, None, "pass", 0.1),
        (0, None, "pass", 0.0),
    ]
    assert checks[0].message == "fgsm eps=0.1 class 0: adversarial error rate 10.0% <= limit 20.0%"


@pytest.mark.parametrize(
    ("key", "names", "reason"),
    [
        ("zebra", ["cat", "stop_sign", "dog"], "unknown class name (classes: 'cat', 'stop_sign', 'dog')"),
        ("zebra", None, "the data has no class names: name the class by its integer label"),
        (7, None, "label 7 is not among the result's classes (labels 0..2)"),
        (2, None, "the data has no samples of this class"),
    ],
)  # fmt: skip
def test_per_class_errors(classes, key, names, reason):
    checks = evaluate(policy(PER_CLASS.format(key=key)), [classes], class_names=names)
    assert [c.status for c in checks] == ["error", "error"]
    where = f"class {key}" if isinstance(key, int) else f"class {key!r}"
    assert checks[0].message == (
        f"fgsm eps=0.1 {where}: per_class.max_adversarial_error_rate not evaluated: {reason}"
    )


# --- which results a block applies to -------------------------------------------------------


def test_budget_eps_not_scanned_is_error_for_each_rule(make_result):
    rules = budget("max_adversarial_error_rate: 0.3", "max_accuracy_drop: 0.2", eps=0.25)
    checks = evaluate(rules, [make_result(eps=0.1), make_result(eps=0.03)])
    assert [(c.rule, c.eps, c.status, c.observed) for c in checks] == [
        ("max_adversarial_error_rate", 0.25, "error", None),
        ("max_accuracy_drop", 0.25, "error", None),
    ]
    assert checks[0].message == (
        "fgsm eps=0.25: max_adversarial_error_rate not evaluated: eps=0.25 was not scanned "
        "(fgsm eps scanned: 0.03, 0.1)"
    )


def test_all_eps_applies_to_every_scanned_eps_without_a_budget(make_result):
    rules = policy(
        "all_eps: {max_adversarial_error_rate: 0.3}\n"
        "budgets:\n  - {eps: 0.2, max_adversarial_error_rate: 0.5}\n"
    )
    results = [
        make_result(eps=0.3, adversarial_errors=60),
        make_result(eps=0.1, adversarial_errors=10),
        make_result(eps=0.2, adversarial_errors=40),
        make_result(attack="noise", eps=0.1, adversarial_errors=90),
    ]
    checks = evaluate(rules, results)
    assert [(c.eps, c.limit, c.status) for c in checks] == [
        (0.1, 0.3, "pass"),
        (0.2, 0.5, "pass"),
        (0.3, 0.3, "fail"),
    ]


def test_noise_rules_judge_noise_results(make_result):
    rules = policy("all_eps: {attack: noise, max_adversarial_error_rate: 0.1}\n")
    results = [
        make_result(adversarial_errors=90),
        make_result(attack="noise", adversarial_errors=5),
    ]
    check = only(evaluate(rules, results))
    assert (check.attack, check.status) == ("noise", "pass")


def test_checks_are_ordered_global_then_attack_and_eps(make_result):
    rules = policy(
        "min_clean_accuracy: 0.5\n"
        "all_eps: {max_accuracy_drop: 0.9}\n"
        "budgets:\n  - {eps: 0.5, max_accuracy_drop: 0.9}\n"
        "  - {eps: 0.05, attack: noise, max_accuracy_drop: 0.9}\n"
    )
    results = [make_result(eps=0.3), make_result(eps=0.01), make_result(eps=0.5)]
    checks = evaluate(rules, results)
    assert [(c.rule, c.attack, c.eps) for c in checks] == [
        ("min_clean_accuracy", None, None),
        ("max_accuracy_drop", "fgsm", 0.01),
        ("max_accuracy_drop", "fgsm", 0.3),
        ("max_accuracy_drop", "fgsm", 0.5),
        ("max_accuracy_drop", "noise", 0.05),
    ]


# --- baseline -------------------------------------------------------------------------------

INCREASE = budget(
    "max_increase: {adversarial_error_rate: 0.02, attack_success_rate: 0.05, accuracy_drop: 0.02}"
)


def test_max_increase_is_omitted_without_a_baseline(make_result):
    assert evaluate(INCREASE, [make_result(adversarial_errors=40)]) == []


def test_max_increase_pass_and_fail(make_result, make_report):
    before = make_report([make_result(adversarial_errors=40)])
    now = make_result(adversarial_errors=42)
    checks = evaluate(INCREASE, [now], baseline=before)
    assert [(c.rule, c.status, round(c.observed or 0, 6)) for c in checks] == [
        ("max_increase.adversarial_error_rate", "pass", 0.02),
        ("max_increase.attack_success_rate", "pass", 0.02),
        ("max_increase.accuracy_drop", "pass", 0.02),
    ]
    worse = evaluate(INCREASE, [make_result(adversarial_errors=44)], baseline=before)
    assert [c.status for c in worse] == ["fail", "pass", "fail"]
    assert worse[0].message == (
        "fgsm eps=0.1: adversarial error rate change vs baseline +4.0 points (40.0% -> 44.0%) "
        "> limit 2.0 points"
    )


def test_max_increase_with_baseline_missing_the_eps_is_error(make_result, make_report):
    before = make_report([make_result(eps=0.3)])
    checks = evaluate(INCREASE, [make_result()], baseline=before)
    assert {c.status for c in checks} == {"error"}
    assert checks[0].message == (
        "fgsm eps=0.1: max_increase.adversarial_error_rate not evaluated: "
        "the baseline report has no fgsm result at eps=0.1"
    )


def test_max_increase_of_an_undefined_success_rate_is_error(make_result, make_report):
    before = make_report([make_result(clean_correct=0, adversarial_errors=100)])
    checks = evaluate(INCREASE, [make_result()], baseline=before)
    assert [c.status for c in checks] == ["pass", "error", "pass"]
    assert checks[1].message.endswith(
        "the baseline attack success rate is undefined (no clean-correct samples)"
    )


# --- verdict --------------------------------------------------------------------------------


def _check(status: str, severity: str = "fail") -> Check:
    return Check(rule="r", severity=severity, observed=0.0, limit=0.0, status=status, message="m")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("statuses", "plain", "strict"),
    [
        ([], "pass", "pass"),
        (["pass"], "pass", "pass"),
        (["pass", "warn"], "pass", "fail"),
        (["warn", "fail"], "fail", "fail"),
        (["fail", "error"], "error", "error"),
        (["warn", "error"], "error", "error"),
    ],
)
def test_verdict(statuses, plain, strict):
    checks = [_check(s) for s in statuses]
    assert verdict(checks) == plain
    assert verdict(checks, strict=True) == strict


def test_strict_makes_a_warn_rule_fail_the_verdict(make_result):
    rules = budget("max_adversarial_error_rate: {limit: 0.3, severity: warn}")
    checks = evaluate(rules, [make_result(adversarial_errors=45)])
    assert verdict(checks) == "pass"
    assert verdict(checks, strict=True) == "fail"


# --- built-in policies on results -----------------------------------------------------------


def test_default_policy_judges_any_eps(make_result):
    results = [
        make_result(eps=0.07, clean_correct=95, adversarial_errors=70, high_confidence=(30, 60))
    ]
    checks = evaluate(load_builtin("default"), results)
    assert [(c.rule, c.status) for c in checks] == [
        ("min_clean_accuracy", "pass"),
        ("max_attack_success_rate", "fail"),
        ("max_high_confidence_misclassifications.rate", "warn"),
    ]
    assert verdict(checks) == "fail"


def test_default_policy_fails_only_beyond_half_of_the_correct_samples_flipped(make_result):
    """The one-liner without a policy gates: FGSM may flip at most half the clean-correct samples."""
    policy = load_builtin("default")
    # 100 samples, 96 clean-correct: 4 clean errors plus the flipped ones.
    at_half = make_result(eps=0.3, clean_correct=96, adversarial_errors=4 + 48)
    beyond = make_result(eps=0.3, clean_correct=96, adversarial_errors=4 + 49)
    assert verdict(evaluate(policy, [at_half])) == "pass"
    assert verdict(evaluate(policy, [make_result(eps=0.01), beyond])) == "fail"


def test_max_error_rate_policy_evaluates_like_before(make_result):
    checks = evaluate(max_error_rate_policy([0.1], 0.5), [make_result(adversarial_errors=60)])
    assert [(c.rule, c.status) for c in checks] == [("max_adversarial_error_rate", "fail")]


def test_small_rates_and_limits_keep_their_digits(make_result):
    result = make_result(n=10_000, clean_correct=10_000, adversarial_errors=1)
    check = only(evaluate(budget("max_adversarial_error_rate: 0.0015"), [result]))
    assert check.message == "fgsm eps=0.1: adversarial error rate 0.01% <= limit 0.15%"


def test_a_result_without_samples_is_error(make_result):
    empty = make_result().model_copy(update={"n": 0})
    check = only(evaluate(budget("max_adversarial_error_rate: 0.3"), [empty]))
    assert check.status == "error" and check.message.endswith("the result has no samples")
