"""Interpreting a classifier's output: logits or probabilities, and the shape ``[N, C(,1,1)]``.

A single output column ``[N, 1]`` (a binary classifier) is read as two classes by
:class:`robustcheck.engine.binary.BinaryBackend` before anything here sees it.
"""

from __future__ import annotations

from enum import Enum

import numpy as np

from robustcheck.errors import ModelError

_SUM_TOLERANCE = 1e-3


class OutputKind(str, Enum):
    LOGITS = "logits"
    PROBABILITIES = "probabilities"


def scores_shape(shape: tuple[int, ...], where: str) -> tuple[int, int]:
    """``(N, C)`` for an output shaped ``[N, C]`` or ``[N, C, 1, ..., 1]``; anything else is refused."""
    if len(shape) >= 2 and all(d == 1 for d in shape[2:]):
        return shape[0], shape[1]
    raise ModelError(
        f"{where}: output has shape {list(shape)}; expected class scores [N, C] or [N, C, 1, 1]",
        hint="pick the class-score output or export the model with a classification head",
    )


def class_scores(raw: np.ndarray, where: str) -> np.ndarray:
    """Reshape a model output to ``[N, C]``."""
    return raw.reshape(scores_shape(raw.shape, where))


def detect_output_kind(scores: np.ndarray) -> OutputKind:
    """Probabilities when every row is non-negative and sums to 1, else logits."""
    finite = scores[np.isfinite(scores).all(axis=1)]
    if finite.size == 0:
        return OutputKind.LOGITS
    rows_sum_to_one = np.abs(finite.sum(axis=1) - 1.0) <= _SUM_TOLERANCE
    if bool((finite >= 0).all() and rows_sum_to_one.all()):
        return OutputKind.PROBABILITIES
    return OutputKind.LOGITS


def to_probabilities(scores: np.ndarray, kind: OutputKind) -> np.ndarray:
    """Class probabilities in float64 (softmax of logits; probabilities unchanged)."""
    scores = scores.astype(np.float64, copy=False)
    if kind is OutputKind.PROBABILITIES:
        return scores
    with np.errstate(invalid="ignore", over="ignore"):
        shifted = scores - scores.max(axis=1, keepdims=True)
        exp = np.exp(shifted)
        return exp / exp.sum(axis=1, keepdims=True)
