"""Judging results against a policy: pure functions, no I/O."""

from __future__ import annotations

import math

from robustcheck.policy.schema import Policy
from robustcheck.reports.model import AttackResult, Check, Verdict


def _find(results: list[AttackResult], attack: str, eps: float) -> AttackResult | None:
    for result in results:
        if result.attack == attack and math.isclose(result.eps, eps, rel_tol=1e-9, abs_tol=1e-12):
            return result
    return None


def evaluate(policy: Policy, results: list[AttackResult]) -> list[Check]:
    checks: list[Check] = []
    for budget in policy.budgets:
        if budget.max_adversarial_error_rate is None:
            continue
        limit = budget.max_adversarial_error_rate
        result = _find(results, budget.attack, budget.eps)
        rule = "max_adversarial_error_rate"
        if result is None:
            checks.append(
                Check(
                    rule=rule,
                    attack=budget.attack,
                    eps=budget.eps,
                    observed=None,
                    limit=limit,
                    status="error",
                    message=f"no {budget.attack} result at eps={budget.eps:g}",
                )
            )
            continue
        observed = result.adversarial_error_rate
        ok = observed <= limit
        checks.append(
            Check(
                rule=rule,
                attack=budget.attack,
                eps=budget.eps,
                observed=observed,
                limit=limit,
                status="pass" if ok else "fail",
                message=(
                    f"{budget.attack} adversarial error rate at eps={budget.eps:g} is "
                    f"{observed:.2%} ({'<=' if ok else '>'} limit {limit:.2%})"
                ),
            )
        )
    return checks


def verdict(checks: list[Check]) -> Verdict:
    statuses = {c.status for c in checks}
    if "error" in statuses:
        return "error"
    if "fail" in statuses:
        return "fail"
    return "pass"
