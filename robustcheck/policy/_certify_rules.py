"""Policy rules on the certification section (``certify:``): the share of samples proven robust
at each ε, and the gap between what the attacks left standing and what is proven."""

from __future__ import annotations

import math

from robustcheck.metrics import wilson_interval
from robustcheck.policy._measure import pct
from robustcheck.policy.schema import CertifyRules, Limit
from robustcheck.reports.model import CertificationSection, CertifiedResult, Check, CheckStatus

_TOLERANCE = 1e-9


def certification_checks(rules: CertifyRules, section: CertificationSection | None) -> list[Check]:
    """One check per limit and ε (the rules' ``eps``, else every certified ε)."""
    wanted = [
        ("min_certified_accuracy", rules.min_certified_accuracy),
        ("max_certification_gap", rules.max_certification_gap),
    ]
    wanted = [(name, spec) for name, spec in wanted if spec is not None]
    if not wanted:
        return []
    if section is None:
        return [
            _error(name, spec, None, "the scan did not certify (--certify)")
            for name, spec in wanted
            if spec is not None
        ]
    checks: list[Check] = []
    by_eps = {r.eps: r for r in section.results}
    for eps in rules.eps or sorted(by_eps):
        result = next((r for e, r in by_eps.items() if math.isclose(e, eps, rel_tol=1e-9)), None)
        for name, spec in wanted:
            assert spec is not None
            if result is None:
                checks.append(_error(name, spec, eps, f"eps={eps:g} was not certified"))
            elif name == "min_certified_accuracy":
                checks.append(_min_certified(spec, result, section.method))
            else:
                checks.append(_max_gap(spec, result, section.method))
    return checks


def _min_certified(spec: Limit, result: CertifiedResult, method: str) -> Check:
    point = result.certified_accuracy
    compared, bound = point, ""
    if spec.gate_on == "upper_bound" and result.n:
        lo, _ = wilson_interval(result.certified, result.n) or (point, point)
        compared, bound = lo, f" (95% lower {pct(lo)})"
    ok = compared >= spec.limit - _TOLERANCE
    message = (
        f"certified ({method}) eps={result.eps:g}: certified accuracy {pct(point)}{bound} "
        f"{'>=' if ok else '<'} limit {pct(spec.limit, exact=True)}"
    )
    return _check("min_certified_accuracy", spec, result.eps, compared, ok, message)


def _max_gap(spec: Limit, result: CertifiedResult, method: str) -> Check:
    if result.gap is None:
        return _error(
            "max_certification_gap", spec, result.eps, "no attack ran at this ε to compare with"
        )
    ok = result.gap <= spec.limit + _TOLERANCE
    message = (
        f"certified ({method}) eps={result.eps:g}: gap {100 * result.gap:.1f} points between "
        f"{result.strongest_attack} ({pct(result.attacked_robust_accuracy or 0.0)} robust) and "
        f"the proof ({pct(result.certified_accuracy)}) {'<=' if ok else '>'} limit "
        f"{100 * spec.limit:.1f} points"
    )
    return _check("max_certification_gap", spec, result.eps, result.gap, ok, message)


def _check(rule: str, spec: Limit, eps: float, observed: float, ok: bool, message: str) -> Check:
    status: CheckStatus = "pass" if ok else ("warn" if spec.severity == "warn" else "fail")
    return _made(rule, spec, eps, observed, status, message)


def _error(rule: str, spec: Limit, eps: float | None, reason: str) -> Check:
    where = "certified" if eps is None else f"certified eps={eps:g}"
    return _made(rule, spec, eps, None, "error", f"{where}: {rule} not evaluated: {reason}")


def _made(
    rule: str,
    spec: Limit,
    eps: float | None,
    observed: float | None,
    status: CheckStatus,
    message: str,
) -> Check:
    return Check(
        rule=rule,
        attack="certified",
        eps=eps,
        severity=spec.severity,
        gate_on=spec.gate_on,
        observed=observed,
        limit=spec.limit,
        status=status,
        message=message,
    )
