"""Judging scan results against a policy: pure functions, no I/O.

Each rule becomes one :class:`Check` (a high-confidence limit with both ``count`` and ``rate``
becomes two). A rule that cannot be evaluated (ε not scanned, unknown class, no samples, an
undefined rate, a baseline without that result) is a check with status ``error`` saying why.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from functools import partial
from typing import Literal

from robustcheck.metrics import wilson_interval
from robustcheck.policy._certify_rules import certification_checks
from robustcheck.policy._measure import (
    Unmeasurable,
    Value,
    accuracy_drop,
    class_high_confidence,
    class_rate,
    find_result,
    high_confidence,
    increase,
    pct,
    rate,
    success_rate,
)
from robustcheck.policy._scan_rules import min_eps_checks, require_valid
from robustcheck.policy.schema import (
    ANY_ATTACK,
    ClassRules,
    HighConfidenceLimit,
    Limit,
    MaxIncrease,
    Policy,
    Rules,
)
from robustcheck.reports.model import (
    AttackResult,
    CertificationSection,
    Check,
    CheckStatus,
    MinEpsSection,
    Report,
    ValiditySection,
    Verdict,
)
from robustcheck.vocabulary import NOISE_BASELINE as NOISE
from robustcheck.vocabulary import GateOn, Severity

Kind = Literal["max_rate", "min_rate", "max_count", "max_increase"]

# Rates are float quotients: a measured 0.3 must not fail a 0.3 limit through rounding.
_TOLERANCE = 1e-9


@dataclass(frozen=True)
class _Rule:
    name: str
    what: str
    kind: Kind
    limit: float
    severity: Severity
    gate_on: GateOn
    measure: Callable[[AttackResult], Value]
    label: int | None = None
    class_name: str | None = None


def evaluate(
    policy: Policy,
    results: list[AttackResult],
    *,
    baseline: Report | None = None,
    class_names: list[str] | None = None,
    validity: ValiditySection | None = None,
    min_eps: MinEpsSection | None = None,
    judged: list[str] | None = None,
    certification: CertificationSection | None = None,
) -> list[Check]:
    """Every check the policy asks for, in a stable order (global, then by attack and ε).

    ``baseline`` enables ``max_increase`` rules (omitted without one); ``class_names`` maps
    labels to names for ``per_class`` entries that name a class (else the results' names);
    ``judged`` are the attacks a rule on ``*`` judges (default: every result's but noise's).
    Validity is required unless the policy says ``require_valid: false`` (then it only warns).
    """
    checks: list[Check] = []
    if policy.min_clean_accuracy is not None:
        checks.append(_min_clean_accuracy(policy.min_clean_accuracy, results))
    for block, eps, result in _blocks(policy, results, judged):
        unit = "tokens" if getattr(block, "tokens", None) is not None else "eps"
        scope = f"{block.attack} {unit}={eps:g}"
        for rule in _rules(block, eps, baseline, class_names):
            if result is None:
                scanned = sorted(r.eps for r in results if r.attack == block.attack)
                shown = ", ".join(f"{e:g}" for e in scanned) or "none"
                reason = f"eps={eps:g} was not scanned ({block.attack} eps scanned: {shown})"
                checks.append(_error(rule, block.attack, eps, scope, reason))
            else:
                checks.append(_judge(rule, result, block.attack, eps, scope))
    if policy.require_valid or (policy.require_valid is None and validity is not None):
        checks.append(require_valid(validity))
    elif policy.require_valid is False and validity is not None:
        checks.append(require_valid(validity, severity="warn"))
    if policy.min_eps is not None:
        checks.extend(min_eps_checks(policy.min_eps, min_eps))
    if policy.certify is not None:
        checks.extend(certification_checks(policy.certify, certification))
    return checks


def verdict(checks: list[Check], *, strict: bool = False) -> Verdict:
    """``error`` if any check errored; ``fail`` if any failed (or, with ``strict``, warned)."""
    statuses = {c.status for c in checks}
    if "error" in statuses:
        return "error"
    if "fail" in statuses or (strict and "warn" in statuses):
        return "fail"
    return "pass"


def _blocks(
    policy: Policy, results: list[AttackResult], judged: list[str] | None
) -> list[tuple[Rules, float, AttackResult | None]]:
    """Each budget with its result, then ``all_eps`` for each scanned ε without a budget; a rule
    on ``*`` becomes one per judged attack (``judged``, else every result's attack but the noise
    baseline)."""
    labels = judged if judged is not None else sorted({r.attack for r in results} - {NOISE})
    budgets = [
        b.model_copy(update={"attack": label})
        for b in policy.budgets or []
        for label in (labels if b.attack == ANY_ATTACK else [b.attack])
    ]
    blocks: list[tuple[Rules, float, AttackResult | None]] = [
        (b, b.value, find_result(results, b.attack, b.value)) for b in budgets
    ]
    if policy.all_eps is not None:
        every = policy.all_eps.attack == ANY_ATTACK
        for attack in labels if every else [policy.all_eps.attack]:
            block = (
                policy.all_eps.model_copy(update={"attack": attack}) if every else policy.all_eps
            )
            covered = [b.value for b in budgets if b.attack == attack]
            blocks += [
                (block, r.eps, r)
                for r in results
                if r.attack == attack and not any(_same(r.eps, e) for e in covered)
            ]
    return sorted(blocks, key=lambda item: (item[0].attack, item[1]))


def _same(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def _rules(
    block: Rules, eps: float, baseline: Report | None, class_names: list[str] | None
) -> Iterator[_Rule]:
    if block.max_adversarial_error_rate is not None:
        yield _rate_rule(
            "max_adversarial_error_rate",
            "adversarial error rate",
            block.max_adversarial_error_rate,
            lambda r: rate(r.adversarial_errors, r.n),
        )
    if block.max_attack_success_rate is not None:
        yield _rate_rule(
            "max_attack_success_rate",
            "attack success rate",
            block.max_attack_success_rate,
            success_rate,
        )
    if block.max_high_confidence_misclassifications is not None:
        yield from _high_confidence_rules(
            "max_high_confidence_misclassifications",
            block.max_high_confidence_misclassifications,
            high_confidence,
        )
    if block.max_accuracy_drop is not None:
        yield _rate_rule(
            "max_accuracy_drop", "accuracy drop", block.max_accuracy_drop, accuracy_drop
        )
    for entry in block.per_class or []:
        yield from _class_rules(entry, class_names)
    if block.max_increase is not None and baseline is not None:
        yield from _increase_rules(block.max_increase, block.attack, eps, baseline)


def _rate_rule(
    name: str, what: str, spec: Limit, measure: Callable[[AttackResult], Value]
) -> _Rule:
    return _Rule(name, what, "max_rate", spec.limit, spec.severity, spec.gate_on, measure)


def _high_confidence_rules(
    name: str, spec: HighConfidenceLimit, measure: Callable[[AttackResult, float, bool], Value]
) -> Iterator[_Rule]:
    tau = spec.threshold
    what = f"high-confidence (≥ {tau:g}) misclassification"
    if spec.count is not None:
        yield _Rule(
            f"{name}.count",
            what + "s",
            "max_count",
            float(spec.count),
            spec.severity,
            "point",
            lambda r: measure(r, tau, False),
        )
    if spec.rate is not None:
        yield _Rule(
            f"{name}.rate",
            what + " rate",
            "max_rate",
            spec.rate,
            spec.severity,
            spec.gate_on,
            lambda r: measure(r, tau, True),
        )


def _class_rules(entry: ClassRules, class_names: list[str] | None) -> Iterator[_Rule]:
    key = entry.class_
    rules: list[_Rule] = []
    if entry.max_adversarial_error_rate is not None:
        rules.append(
            _rate_rule(
                "per_class.max_adversarial_error_rate",
                "adversarial error rate",
                entry.max_adversarial_error_rate,
                lambda r: class_rate(r, key, class_names),
            )
        )
    if entry.max_high_confidence_misclassifications is not None:
        rules += _high_confidence_rules(
            "per_class.max_high_confidence_misclassifications",
            entry.max_high_confidence_misclassifications,
            lambda r, tau, as_rate: class_high_confidence(r, key, class_names, tau, as_rate),
        )
    for rule in rules:
        if isinstance(key, int):
            yield replace(rule, label=key)
        else:
            yield replace(rule, class_name=key)


def _increase_rules(
    spec: MaxIncrease, attack: str, eps: float, baseline: Report
) -> Iterator[_Rule]:
    before = find_result(baseline.results, attack, eps)
    for metric, what in (
        ("adversarial_error_rate", "adversarial error rate"),
        ("attack_success_rate", "attack success rate"),
        ("accuracy_drop", "accuracy drop"),
    ):
        limit = getattr(spec, metric)
        if limit is not None:
            yield _Rule(
                f"max_increase.{metric}",
                f"{what} change vs baseline",
                "max_increase",
                limit.limit,
                limit.severity,
                "point",
                partial(increase, before=before, metric=metric),
            )


def _min_clean_accuracy(spec: Limit, results: list[AttackResult]) -> Check:
    def measure(result: AttackResult) -> Value:
        return rate(result.clean_correct, result.n)

    rule = _Rule(
        "min_clean_accuracy",
        "clean accuracy",
        "min_rate",
        spec.limit,
        spec.severity,
        spec.gate_on,
        measure,
    )
    if not results:
        return _error(rule, None, None, "clean", "no results to measure clean accuracy on")
    return _judge(rule, results[0], None, None, "clean")


def _judge(
    rule: _Rule, result: AttackResult, attack: str | None, eps: float | None, scope: str
) -> Check:
    try:
        value = rule.measure(result)
    except Unmeasurable as exc:
        return _error(rule, attack, eps, scope, str(exc))
    compared, bound_text = value.point, ""
    if rule.gate_on == "upper_bound" and value.k is not None and value.n:
        lo, hi = wilson_interval(value.k, value.n) or (value.point, value.point)
        compared = lo if rule.kind == "min_rate" else hi
        side = "lower" if rule.kind == "min_rate" else "upper"
        bound_text = f" (95% {side} {pct(compared)})"
    if rule.kind == "min_rate":
        ok = compared >= rule.limit - _TOLERANCE
        op = ">=" if ok else "<"
    else:
        ok = compared <= rule.limit + _TOLERANCE
        op = "<=" if ok else ">"
    status: CheckStatus = "pass" if ok else ("warn" if rule.severity == "warn" else "fail")
    where = _where(scope, value.label, value.class_name)
    message = (
        f"{where}: {rule.what} {_shown(rule.kind, value.point)}{value.detail}{bound_text} "
        f"{op} limit {_shown(rule.kind, rule.limit, limit=True)}"
    )
    return _check(rule, attack, eps, value.label, value.class_name, compared, status, message)


def _error(rule: _Rule, attack: str | None, eps: float | None, scope: str, reason: str) -> Check:
    where = _where(scope, rule.label, rule.class_name)
    message = f"{where}: {rule.name} not evaluated: {reason}"
    return _check(rule, attack, eps, rule.label, rule.class_name, None, "error", message)


def _check(
    rule: _Rule,
    attack: str | None,
    eps: float | None,
    label: int | None,
    class_name: str | None,
    observed: float | None,
    status: CheckStatus,
    message: str,
) -> Check:
    return Check(
        rule=rule.name,
        attack=attack,
        eps=eps,
        label=label,
        class_name=class_name,
        severity=rule.severity,
        gate_on=rule.gate_on,
        observed=observed,
        limit=rule.limit,
        status=status,
        message=message,
    )


def _where(scope: str, label: int | None, class_name: str | None) -> str:
    if label is None and class_name is None:
        return scope
    if label is None:
        return f"{scope} class {class_name!r}"
    return f"{scope} class {label}" + (f" ({class_name!r})" if class_name is not None else "")


def _shown(kind: Kind, value: float, *, limit: bool = False) -> str:
    if kind == "max_count":
        return f"{value:g}"
    if kind == "max_increase":
        return f"{100 * value:.1f} points" if limit else f"{100 * value:+.1f} points"
    return pct(value, exact=limit)
