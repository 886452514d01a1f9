"""Turning counters into report entries."""

from __future__ import annotations

from robustcheck.metrics import Counts, rate, wilson_interval
from robustcheck.reports.model import AttackResult, ClassResult, HighConfidence, Interval


def _interval(k: int, n: int) -> Interval | None:
    bounds = wilson_interval(k, n)
    return None if bounds is None else Interval(lo=bounds[0], hi=bounds[1])


def _name(class_names: tuple[str, ...] | None, label: int) -> str | None:
    """The name of ``label``; a sample may name fewer classes than the model has (a folder
    holding only some classes), and the model's other classes then have no name."""
    if class_names is None or label >= len(class_names):
        return None
    return class_names[label]


def attack_result(
    attack: str, eps: float, counts: Counts, class_names: tuple[str, ...] | None = None
) -> AttackResult:
    n = counts.n
    hc = counts.high_confidence_errors[0]
    return AttackResult(
        attack=attack,
        eps=eps,
        n=n,
        clean_error_rate=(n - counts.clean_correct) / n,
        adversarial_error_rate=counts.adversarial_errors / n,
        adversarial_error_rate_interval=_interval(counts.adversarial_errors, n),
        attack_success_rate=rate(counts.flipped, counts.clean_correct),
        attack_success_rate_interval=_interval(counts.flipped, counts.clean_correct),
        high_confidence_threshold=counts.thresholds[0],
        high_confidence_misclassifications=hc,
        high_confidence_misclassification_rate=hc / n,
        high_confidence_misclassification_rate_interval=_interval(hc, n),
        high_confidence_misclassifications_at_0_5=counts.high_confidence_errors[1],
        mean_confidence_adversarial_errors=counts.mean_confidence_errors,
        adversarial_errors=counts.adversarial_errors,
        clean_correct=counts.clean_correct,
        high_confidence=[
            HighConfidence(threshold=tau, count=k, rate=k / n, interval=_interval(k, n))
            for tau, k in zip(counts.thresholds, counts.high_confidence_errors, strict=True)
        ],
        target_hits=counts.target_hits,
        per_class=[
            ClassResult(
                label=c,
                class_name=_name(class_names, c),
                n=counts.per_class_n[c],
                clean_correct=counts.per_class_clean_correct[c],
                adversarial_errors=counts.per_class_errors[c],
                adversarial_error_rate=rate(counts.per_class_errors[c], counts.per_class_n[c]),
                high_confidence_misclassifications=[
                    per_tau[c] for per_tau in counts.per_class_high_confidence_errors
                ],
            )
            for c in range(counts.n_classes)
        ],
    )
