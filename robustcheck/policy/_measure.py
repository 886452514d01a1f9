"""What each rule measures in an :class:`AttackResult`, from its integer counts.

A measurement that is undefined raises :class:`Unmeasurable` with the reason, which becomes
an ``error`` check.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from robustcheck.reports.model import AttackResult, ClassResult


class Unmeasurable(Exception):
    """The rule cannot be evaluated on this result; ``str(exc)`` says why."""


@dataclass(frozen=True)
class Value:
    point: float
    k: int | None = None
    """Successes and trials behind ``point``, for the Wilson interval."""
    n: int | None = None
    detail: str = ""
    label: int | None = None
    class_name: str | None = None


def pct(value: float, *, exact: bool = False) -> str:
    """``0.451 -> 45.1%``; tiny values keep two digits, and ``exact`` ones all they need."""
    scaled = 100 * value
    if exact and abs(scaled - round(scaled, 1)) > 1e-9:
        return f"{scaled:.4g}%"
    if scaled == 0 or abs(scaled) >= 0.1:
        return f"{scaled:.1f}%"
    return f"{scaled:.2g}%"


def find_result(results: list[AttackResult], attack: str, eps: float) -> AttackResult | None:
    for result in results:
        if result.attack == attack and math.isclose(result.eps, eps, rel_tol=1e-9, abs_tol=1e-12):
            return result
    return None


def rate(k: int, n: int) -> Value:
    if n <= 0:
        raise Unmeasurable("the result has no samples")
    return Value(k / n, k, n)


def flipped(result: AttackResult) -> int:
    """Clean-correct samples the attack made wrong (the report keeps only their rate)."""
    if result.attack_success_rate is None:
        return 0
    return round(result.attack_success_rate * result.clean_correct)


def success_rate(result: AttackResult) -> Value:
    if result.clean_correct == 0:
        raise Unmeasurable(
            "no sample was classified correctly before the attack, so the attack success rate "
            "is undefined"
        )
    return rate(flipped(result), result.clean_correct)


def accuracy_drop(result: AttackResult) -> Value:
    """Clean minus adversarial accuracy, from counts so 0.3 stays 0.3.

    Its interval bound is the Wilson upper bound of ``flipped / n``: the drop is
    ``(flipped - fixed) / n``, never more than ``flipped / n``.
    """
    n = result.n
    if n <= 0:
        raise Unmeasurable("the result has no samples")
    clean = result.clean_correct / n
    adversarial = (n - result.adversarial_errors) / n
    drop = (result.clean_correct - (n - result.adversarial_errors)) / n
    detail = f" ({pct(clean)} clean -> {pct(adversarial)} adversarial accuracy)"
    return Value(drop, flipped(result), n, detail)


def _threshold_index(thresholds: list[float], tau: float) -> int:
    for i, tracked in enumerate(thresholds):
        if math.isclose(tracked, tau, rel_tol=1e-9, abs_tol=1e-12):
            return i
    shown = ", ".join(f"{t:g}" for t in thresholds) or "none"
    raise Unmeasurable(f"the scan did not track threshold {tau:g} (tracked: {shown})")


def high_confidence(result: AttackResult, tau: float, as_rate: bool) -> Value:
    i = _threshold_index([h.threshold for h in result.high_confidence], tau)
    count = result.high_confidence[i].count
    return rate(count, result.n) if as_rate else Value(float(count))


def class_rate(result: AttackResult, key: str | int, class_names: list[str] | None) -> Value:
    entry, name = _class(result, key, class_names)
    value = rate(entry.adversarial_errors, entry.n)
    return Value(value.point, value.k, value.n, label=entry.label, class_name=name)


def class_high_confidence(
    result: AttackResult,
    key: str | int,
    class_names: list[str] | None,
    tau: float,
    as_rate: bool,
) -> Value:
    entry, name = _class(result, key, class_names)
    i = _threshold_index([h.threshold for h in result.high_confidence], tau)
    if i >= len(entry.high_confidence_misclassifications):
        raise Unmeasurable(f"the result has no per-class count at threshold {tau:g}")
    count = entry.high_confidence_misclassifications[i]
    if as_rate:
        return Value(count / entry.n, count, entry.n, label=entry.label, class_name=name)
    return Value(float(count), label=entry.label, class_name=name)


def increase(result: AttackResult, *, before: AttackResult | None, metric: str) -> Value:
    if before is None:
        raise Unmeasurable(
            f"the baseline report has no {result.attack} result at eps={result.eps:g}"
        )
    now, then = _metric(result, metric, "current"), _metric(before, metric, "baseline")
    return Value(now - then, detail=f" ({pct(then)} -> {pct(now)})")


def _metric(result: AttackResult, metric: str, which: str) -> float:
    if metric == "accuracy_drop":
        return accuracy_drop(result).point
    if metric == "attack_success_rate":
        if result.attack_success_rate is None:
            raise Unmeasurable(
                f"the {which} attack success rate is undefined (no clean-correct samples)"
            )
        return result.attack_success_rate
    return result.adversarial_error_rate


def _class(
    result: AttackResult, key: str | int, class_names: list[str] | None
) -> tuple[ClassResult, str | None]:
    """The per-class entry for a label or a class name, and the class's name when known."""
    by_label = {entry.label: entry for entry in result.per_class}
    names = list(class_names) if class_names is not None else None
    if isinstance(key, int):
        entry = by_label.get(key)
        if entry is None:
            raise Unmeasurable(
                f"label {key} is not among the result's classes (labels 0..{len(by_label) - 1})"
            )
    else:
        entry = _by_name(result, key, names)
    name = entry.class_name
    if name is None and names is not None and 0 <= entry.label < len(names):
        name = names[entry.label]
    if entry.n == 0:
        raise Unmeasurable("the data has no samples of this class")
    return entry, name


def _by_name(result: AttackResult, key: str, names: list[str] | None) -> ClassResult:
    for entry in result.per_class:
        if entry.class_name == key or (
            names is not None and 0 <= entry.label < len(names) and names[entry.label] == key
        ):
            return entry
    known = names or [e.class_name for e in result.per_class if e.class_name is not None]
    if not known:
        raise Unmeasurable("the data has no class names: name the class by its integer label")
    shown = ", ".join(repr(n) for n in known[:10]) + (", ..." if len(known) > 10 else "")
    raise Unmeasurable(f"unknown class name (classes: {shown})")
