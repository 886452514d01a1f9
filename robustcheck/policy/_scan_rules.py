"""Policy rules on whole-scan sections: ``require_valid`` and ``min_eps``."""

from __future__ import annotations

from robustcheck.policy.schema import MinEpsRules
from robustcheck.reports.model import Check, CheckStatus, MinEpsSection, ValiditySection
from robustcheck.vocabulary import Severity


def require_valid(validity: ValiditySection | None, severity: Severity = "fail") -> Check:
    """Passes when no validity check flagged the scan; else fails (or, for a policy that says
    ``require_valid: false``, warns) naming the first flagged check."""
    if validity is None:
        return Check(
            rule="require_valid",
            observed=None,
            limit=1.0,
            status="error",
            message="validity: require_valid not evaluated: the scan has no validity section",
        )
    flagged = [c for c in validity.checks if c.status == "flagged"]
    if not flagged:
        message = "validity: the robustness claim is reliable (every validity check passed)"
        return Check(rule="require_valid", observed=1.0, limit=1.0, status="pass", message=message)
    more = f" (+{len(flagged) - 1} more)" if len(flagged) > 1 else ""
    return Check(
        rule="require_valid",
        observed=0.0,
        limit=1.0,
        status=severity,
        message=f"validity: the robustness claim is unreliable: {flagged[0].reason}{more}",
    )


def min_eps_checks(rules: MinEpsRules, section: MinEpsSection | None) -> list[Check]:
    wanted = [("median", rules.median, 0.5), ("p10", rules.p10, 0.1), ("p25", rules.p25, 0.25)]
    checks = []
    for name, limit, _ in wanted:
        if limit is None:
            continue
        rule = f"min_eps_{name}"
        if section is None:
            checks.append(_error(rule, limit, "the scan did not search minimal ε"))
            continue
        value = section.median if name == "median" else section.percentiles.get(name)
        if value is None:
            # Not fooled at eps_max: the minimal ε is above it, which meets any limit up to it.
            if limit > section.eps_max:
                checks.append(
                    _error(
                        rule,
                        limit,
                        f"the search stops at ε={section.eps_max:g}; scan up to "
                        f"at least {limit:g} (a larger --eps)",
                    )
                )
                continue
            observed, shown = section.eps_max, f"> {section.eps_max:g}"
        else:
            observed, shown = value, f"{value:.4g}"
        ok = observed >= limit if value is not None else True
        status: CheckStatus = "pass" if ok else ("warn" if rules.severity == "warn" else "fail")
        checks.append(
            Check(
                rule=rule,
                severity=rules.severity,
                observed=observed,
                limit=limit,
                status=status,
                message=f"minimal ε {name} {shown} {'>=' if ok else '<'} limit {limit:g}",
            )
        )
    return checks


def _error(rule: str, limit: float, reason: str) -> Check:
    return Check(
        rule=rule,
        observed=None,
        limit=limit,
        status="error",
        message=f"minimal ε: {rule} not evaluated: {reason}",
    )
