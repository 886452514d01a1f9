"""Number formatting and check ordering shared by the renderers (one wording everywhere)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from robustcheck.reports.model import Check, CheckStatus, FidelitySection, Interval, Report

# Worst first: an error outranks a failure, as it does for the exit code.
STATUS_ORDER: dict[CheckStatus, int] = {"error": 0, "fail": 1, "warn": 2, "pass": 3}


def pct(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{100 * value:.{digits}f}%"


def diff(value: float | None) -> str:
    """A probability difference, ``-`` when not measured."""
    return "-" if value is None else f"{value:.3g}"


def interval(ci: Interval | None) -> str:
    return "" if ci is None else f"[{100 * ci.lo:.1f}, {100 * ci.hi:.1f}]"


def pct_ci(value: float | None, ci: Interval | None) -> str:
    text = pct(value)
    return text if ci is None or value is None else f"{text} {interval(ci)}"


def eps(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def conf(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


DEFAULT_POLICY_SOURCE = "default"
"""``PolicySection.source`` when no policy was given and the built-in default judged."""


def policy_judge(source: str) -> str:
    """Which policy judged, saying so when it is the built-in default nobody chose."""
    if source == DEFAULT_POLICY_SOURCE:
        return (
            "builtin:default (the default, as no policy was given: fails when FGSM flips more "
            "than half of the correctly classified samples at any ε)"
        )
    return source


def short_sha(sha256: str) -> str:
    return sha256[:12]


_FRACTION_WORDS = ("rate", "accuracy", "drop")


def is_rate(check: Check) -> bool:
    """Rules on fractions (rates, accuracies, drops) show percentages; counts print as numbers."""
    return not check.rule.endswith(".count") and any(w in check.rule for w in _FRACTION_WORDS)


def check_value(check: Check, value: float | None) -> str:
    if value is None:
        return "-"
    return pct(value) if is_rate(check) else f"{value:g}"


def check_summary(check: Check) -> str:
    """``observed 45.1% > limit 30.0%``: the comparison that decided the check."""
    if check.observed is None:
        return f"not measured (limit {check_value(check, check.limit)})"
    op = "<=" if check.observed <= check.limit else ">"
    what = "upper bound" if check.gate_on == "upper_bound" else "observed"
    return (
        f"{what} {check_value(check, check.observed)} {op} limit {check_value(check, check.limit)}"
    )


def check_class(check: Check) -> str:
    if check.label is None:
        return ""
    return f"{check.label}" if check.class_name is None else f"{check.label} ({check.class_name})"


def sorted_checks(checks: Iterable[Check]) -> list[Check]:
    return sorted(checks, key=lambda c: STATUS_ORDER[c.status])


def status_counts(checks: Iterable[Check]) -> str:
    """``1 error, 1 failed, 1 warning, 2 passed`` (zero counts left out)."""
    counts = Counter(c.status for c in checks)
    words = {"error": ("error", "errors"), "fail": ("failed", "failed")}
    words |= {"warn": ("warning", "warnings"), "pass": ("passed", "passed")}
    parts = []
    for status in STATUS_ORDER:
        if counts[status]:
            singular, plural = words[status]
            parts.append(f"{counts[status]} {singular if counts[status] == 1 else plural}")
    return ", ".join(parts)


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    """Left-aligned plain-text columns."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]


def eps_scale_line(report: Report) -> str | None:
    """How one ε of the sweep becomes a budget per feature, when it does."""
    scale = None if report.input is None else report.input.eps_scale
    if scale is None:
        return None
    what = "its standard deviation on the scanned data" if scale.units == "std" else scale.source
    return (
        f"ε per feature: feature i's budget is ε × scale_i ({what}; {scale.n_features} features, "
        f"scales {scale.min:.3g} … median {scale.median:.3g} … {scale.max:.3g}"
        + (f", {scale.zero_features} never perturbed" if scale.zero_features else "")
        + ")"
    )


def transfer_agreement(f: FidelitySection) -> str:
    """A transfer scan's surrogate-vs-target comparison: an agreement, never a fidelity."""
    adversarial = f.adversarial_top1_agreement
    adv = "" if adversarial is None else f", {pct(adversarial)} on adversarial inputs"
    return (
        f"agreement (transfer attack, not a fidelity): surrogate and target agree on the top-1 "
        f"class of {pct(f.clean_top1_agreement or 0.0)} of clean inputs{adv}"
    )


def methods(report: Report) -> str | None:
    """How each attack got its perturbations, when a gradient-free or transfer attack ran (else
    ``None``: every attack read the model's own gradient, as reports before schema 1.3 assumed)."""
    if not report.methods or all(
        m.queries is None and m.method != "surrogate-gradient" for m in report.methods
    ):
        return None
    parts = []
    for m in report.methods:
        cost = ""
        if m.queries is not None:
            cost = f" ({m.queries_per_sample or 0:g} queries per sample, {m.queries} in total)"
        parts.append(f"{m.attack}: {m.method.replace('-', ' ')}{cost}")
    return "; ".join(parts)
