"""Fail closed: refuse numbers that measured nothing.

A robustness gate has many ways to pass without measuring: NaN scores, every class tied, an output
that ignores its input, a model that answers differently to the same input. Each is an error here,
never a pass. Samples whose top-2 probability margin is near zero are counted as *fragile*: the
verdict should not hinge on them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from robustcheck.errors import MeasurementError

FRAGILE_MARGIN = 1e-4
"""Top-1 minus top-2 probability below which a prediction could flip on rounding alone."""
MAX_TIED_FRACTION = 0.5


@dataclass
class Stability:
    n: int = 0
    tied: int = 0
    fragile: int = 0

    def add(self, probs: np.ndarray) -> None:
        top2 = np.sort(probs, axis=1)[:, -2:]
        margin = top2[:, 1] - top2[:, 0]
        self.n += int(probs.shape[0])
        self.tied += int((margin == 0).sum())
        self.fragile += int((margin < FRAGILE_MARGIN).sum())

    def merge(self, other: Stability) -> Stability:
        return Stability(self.n + other.n, self.tied + other.tied, self.fragile + other.fragile)


def check_rows(scores: np.ndarray, n: int, where: str) -> None:
    """One row of class scores per input sample: an output reshaped across the batch
    (``[1, N·C]``) would otherwise be read as one sample with N·C classes."""
    if scores.shape[0] != n:
        raise MeasurementError(
            f"{where}: the model returned {scores.shape[0]} rows of class scores for a batch of "
            f"{n} samples (output shape {list(scores.shape)}); expected one row per sample"
        )


def check_finite(scores: np.ndarray, where: str, start: int) -> None:
    bad = ~np.isfinite(scores).all(axis=1)
    if bad.any():
        first = start + int(np.flatnonzero(bad)[0])
        raise MeasurementError(
            f"{where}: the model returned NaN or Inf scores for {int(bad.sum())} samples "
            f"(first: sample {first}); no robustness can be measured from them"
        )


def check_repeatable(first: np.ndarray, second: np.ndarray, where: str) -> None:
    if not np.array_equal(first, second):
        worst = float(np.max(np.abs(first - second)))
        raise MeasurementError(
            f"{where}: two runs on the same inputs gave different scores (max difference {worst:.3g}); "
            "the model is not deterministic (dropout or sampling left on?)"
        )


def check_input_dependence(x: np.ndarray, scores: np.ndarray, where: str) -> None:
    if x.shape[0] < 2 or np.all(x == x[:1]):
        return
    if np.all(scores == scores[:1]):
        raise MeasurementError(
            f"{where}: every sample of the first batch gets identical scores: the output does not "
            "depend on the input"
        )


def check_ties(stability: Stability, where: str) -> None:
    if stability.tied > MAX_TIED_FRACTION * stability.n:
        raise MeasurementError(
            f"{where}: the top two classes tie exactly for {stability.tied} of {stability.n} "
            "samples, so no prediction is defined"
        )
