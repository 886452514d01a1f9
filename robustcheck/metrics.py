"""Robustness metrics as additive integer counters, turned into rates at the end.

Counters from separate batches (or shards) merge by addition, so a scan split any way gives
the same counts. A sample is *correct* only when its true-class probability is finite and
strictly greater than every other class's: ties and NaN never count as correct.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

Z_95 = 1.959963984540054


def correct_mask(probs: np.ndarray, y: np.ndarray) -> np.ndarray:
    """True where the true class is finite and strictly above every other class."""
    rows = np.arange(probs.shape[0])
    true_score = probs[rows, y]
    others = probs.copy()
    others[rows, y] = -np.inf
    with np.errstate(invalid="ignore"):
        return np.isfinite(true_score) & (true_score > np.max(others, axis=1))


def confidence(probs: np.ndarray) -> np.ndarray:
    """Probability of the predicted (top-1) class; NaN rows give NaN."""
    return np.max(probs, axis=1)


@dataclass
class Counts:
    """Counts for one attack at one ε."""

    n_classes: int
    thresholds: tuple[float, ...]
    n: int = 0
    clean_correct: int = 0
    adversarial_errors: int = 0
    flipped: int = 0
    """Clean-correct samples that the attack made wrong."""
    high_confidence_errors: list[int] = field(default_factory=list)
    """Per threshold: adversarial errors whose top probability is ≥ τ."""
    confidence_sum_errors_q64: int = 0
    """Sum of the top probabilities of the finite adversarial errors, in units of 2**-64: exact
    integers, so the sum (and the mean reported) is the same however the scan was split."""
    per_class_n: list[int] = field(default_factory=list)
    per_class_clean_correct: list[int] = field(default_factory=list)
    per_class_errors: list[int] = field(default_factory=list)
    per_class_high_confidence_errors: list[list[int]] = field(default_factory=list)
    """Per threshold, per true class."""
    target_hits: int | None = None
    """Targeted attacks: samples whose adversarial prediction is the target (never their label)."""

    def __post_init__(self) -> None:
        self.high_confidence_errors = self.high_confidence_errors or [0] * len(self.thresholds)
        self.per_class_n = self.per_class_n or [0] * self.n_classes
        self.per_class_clean_correct = self.per_class_clean_correct or [0] * self.n_classes
        self.per_class_errors = self.per_class_errors or [0] * self.n_classes
        self.per_class_high_confidence_errors = self.per_class_high_confidence_errors or [
            [0] * self.n_classes for _ in self.thresholds
        ]

    def add_batch(
        self,
        y: np.ndarray,
        clean_probs: np.ndarray,
        adv_probs: np.ndarray,
        targets: np.ndarray | None = None,
    ) -> None:
        if targets is not None:
            hits = correct_mask(adv_probs, targets) & (targets != y)
            self.target_hits = (self.target_hits or 0) + int(hits.sum())
        clean_ok = correct_mask(clean_probs, y)
        adv_wrong = ~correct_mask(adv_probs, y)
        conf = confidence(adv_probs)
        self.n += int(y.shape[0])
        self.clean_correct += int(clean_ok.sum())
        self.adversarial_errors += int(adv_wrong.sum())
        self.flipped += int((clean_ok & adv_wrong).sum())
        for i, tau in enumerate(self.thresholds):
            with np.errstate(invalid="ignore"):
                confident = adv_wrong & (conf >= tau)
            self.high_confidence_errors[i] += int(confident.sum())
            _add_into(self.per_class_high_confidence_errors[i], self._per_class(y[confident]))
        wrong_conf = conf[adv_wrong]
        self.confidence_sum_errors_q64 += _fixed_point_sum(wrong_conf[np.isfinite(wrong_conf)])
        _add_into(self.per_class_n, self._per_class(y))
        _add_into(self.per_class_clean_correct, self._per_class(y[clean_ok]))
        _add_into(self.per_class_errors, self._per_class(y[adv_wrong]))

    @property
    def mean_confidence_errors(self) -> float | None:
        """Mean top probability of the adversarial errors (correctly rounded from the exact sum)."""
        if not self.adversarial_errors:
            return None
        return self.confidence_sum_errors_q64 / (self.adversarial_errors << _Q)

    def _per_class(self, labels: np.ndarray) -> np.ndarray:
        return np.bincount(labels, minlength=self.n_classes)

    def merge(self, other: Counts) -> Counts:
        if (self.n_classes, self.thresholds) != (other.n_classes, other.thresholds):
            raise ValueError("cannot merge counts with different classes or thresholds")
        return Counts(
            n_classes=self.n_classes,
            thresholds=self.thresholds,
            n=self.n + other.n,
            clean_correct=self.clean_correct + other.clean_correct,
            adversarial_errors=self.adversarial_errors + other.adversarial_errors,
            flipped=self.flipped + other.flipped,
            high_confidence_errors=_add(self.high_confidence_errors, other.high_confidence_errors),
            confidence_sum_errors_q64=self.confidence_sum_errors_q64
            + other.confidence_sum_errors_q64,
            per_class_n=_add(self.per_class_n, other.per_class_n),
            per_class_clean_correct=_add(
                self.per_class_clean_correct, other.per_class_clean_correct
            ),
            per_class_errors=_add(self.per_class_errors, other.per_class_errors),
            per_class_high_confidence_errors=[
                _add(a, b)
                for a, b in zip(
                    self.per_class_high_confidence_errors,
                    other.per_class_high_confidence_errors,
                    strict=True,
                )
            ],
            target_hits=(
                None
                if self.target_hits is None and other.target_hits is None
                else (self.target_hits or 0) + (other.target_hits or 0)
            ),
        )


_Q = 64


def _fixed_point_sum(values: np.ndarray) -> int:
    """Σ round(v · 2**64) as a Python integer: order-independent, and exact for probabilities
    above 2**-11 (float64 has 53 significant bits)."""
    scaled = np.rint(np.ldexp(values.astype(np.float64), _Q))
    return sum(int(v) for v in scaled.tolist())


def _add(a: list[int], b: list[int]) -> list[int]:
    return [i + j for i, j in zip(a, b, strict=True)]


def _add_into(total: list[int], part: np.ndarray) -> None:
    for c, value in enumerate(part.tolist()):
        total[c] += value


def rate(k: int, n: int) -> float | None:
    return k / n if n else None


def wilson_interval(k: int, n: int, z: float = Z_95) -> tuple[float, float] | None:
    """Wilson score interval for a binomial proportion; ``None`` when ``n == 0``."""
    if n == 0:
        return None
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)
