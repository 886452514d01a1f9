from __future__ import annotations

import math

import numpy as np
import pytest

from robustcheck.metrics import Counts, correct_mask, wilson_interval


def test_correct_requires_a_finite_strict_maximum():
    probs = np.array([[0.7, 0.3], [0.5, 0.5], [np.nan, 0.2], [0.1, 0.9]])
    assert correct_mask(probs, np.array([0, 0, 0, 0])).tolist() == [True, False, False, False]


def test_wilson_interval_known_values():
    lo, hi = wilson_interval(10, 100)
    assert math.isclose(lo, 0.05523, abs_tol=1e-4) and math.isclose(hi, 0.17437, abs_tol=1e-4)
    assert wilson_interval(0, 0) is None
    assert wilson_interval(0, 20)[0] == 0.0 and wilson_interval(20, 20)[1] == 1.0


def _random_batch(rng, n):
    y = rng.integers(0, 4, n)
    clean = rng.dirichlet(np.ones(4), n)
    adv = rng.dirichlet(np.ones(4) * 0.3, n)
    return y, clean, adv


def test_counts_merge_equals_counting_everything_at_once():
    rng = np.random.default_rng(0)
    batches = [_random_batch(rng, n) for n in (7, 13, 1, 40)]
    whole = Counts(4, (0.9, 0.5))
    whole.add_batch(*(np.concatenate(parts) for parts in zip(*batches, strict=True)))
    merged = Counts(4, (0.9, 0.5))
    for batch in batches:
        part = Counts(4, (0.9, 0.5))
        part.add_batch(*batch)
        merged = merged.merge(part)
    assert merged.n == whole.n == 61
    assert (
        merged.adversarial_errors,
        merged.flipped,
        merged.high_confidence_errors,
        merged.per_class_errors,
    ) == (
        whole.adversarial_errors,
        whole.flipped,
        whole.high_confidence_errors,
        whole.per_class_errors,
    )
    assert merged.confidence_sum_errors_q64 == whole.confidence_sum_errors_q64  # exact
    assert merged.mean_confidence_errors == whole.mean_confidence_errors


def test_counts_definitions_on_a_hand_made_batch():
    y = np.array([0, 1, 2, 0])
    clean = np.eye(3)[[0, 1, 0, 0]] * 0.8 + 0.2 / 3  # sample 2 is wrong before the attack
    adv = np.array([[0.05, 0.95, 0.0], [0.1, 0.6, 0.3], [0.6, 0.0, 0.4], [0.3, 0.35, 0.35]])
    counts = Counts(3, (0.9, 0.5))
    counts.add_batch(y, clean, adv)
    assert counts.clean_correct == 3
    assert counts.adversarial_errors == 3  # samples 0, 2, 3
    assert counts.flipped == 2  # samples 0 and 3 were right and became wrong
    assert counts.high_confidence_errors == [1, 2]  # 0.95 ≥ 0.9; 0.95 and 0.6 ≥ 0.5
    assert counts.mean_confidence_errors == pytest.approx((0.95 + 0.6 + 0.35) / 3)
    assert counts.per_class_errors == [2, 0, 1]
