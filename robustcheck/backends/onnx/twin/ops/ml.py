"""The ``ai.onnx.ml`` operators a linear scikit-learn pipeline needs.

Deliberate differences from onnxruntime, none of which change a probability or a gradient:

* float64 features stay float64 (the spec says the outputs are float32) so that a float64
  gradcheck can run through the whole pipeline; every other input type becomes float32;
* with ``classlabels_strings`` the label output holds the *index* of the predicted class
  (torch has no string tensors); integer class labels are returned as such;
* ``ZipMap`` returns its input probability tensor unchanged instead of a sequence of maps.

Tree ensembles are deliberately not here: they are piecewise constant, so their input
gradient is zero almost everywhere and a gradient attack learns nothing from them. SVMs and
the remaining ML operators are simply not implemented yet.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from robustcheck.backends.onnx.twin.registry import op
from robustcheck.errors import UnsupportedModelError

ML_DOMAIN = "ai.onnx.ml"


def _features(x: Tensor) -> Tensor:
    work = x if x.dtype == torch.float64 else x.to(torch.float32)
    return work.reshape(1, -1) if work.dim() == 1 else work


def _vector(values: Sequence[float], like: Tensor) -> Tensor:
    return torch.tensor(list(values), dtype=like.dtype, device=like.device)


def _softmax_zero(scores: Tensor) -> Tensor:
    # Zeros stay zero: only the non-zero scores share the probability mass.
    top = scores.amax(dim=1, keepdim=True)
    near_zero = scores.abs() <= 1e-7
    exps = torch.where(near_zero, scores * torch.exp(-top), torch.exp(scores - top))
    total = exps.sum(dim=1, keepdim=True)
    return torch.where(total == 0, torch.full_like(exps, 0.5), exps / total)


def _post_transform(scores: Tensor, post_transform: str) -> Tensor:
    if post_transform == "NONE":
        return scores
    if post_transform == "SOFTMAX":
        return torch.softmax(scores, dim=1)
    if post_transform == "LOGISTIC":
        return torch.sigmoid(scores)
    if post_transform == "SOFTMAX_ZERO":
        return _softmax_zero(scores)
    if post_transform == "PROBIT":
        return math.sqrt(2) * torch.erfinv(2 * scores - 1)
    raise UnsupportedModelError(f"unknown post_transform {post_transform!r}")


def _linear(x: Tensor, coefficients: Sequence[float], intercepts: Sequence[float] | None) -> Tensor:
    features = _features(x)
    n_features = features.shape[1]
    rows, left = divmod(len(coefficients), max(n_features, 1))
    if left or (intercepts and len(intercepts) != rows):
        # onnxruntime reads such a model anyway (it sizes the classes from the intercepts and
        # ignores extra coefficients); which features those coefficients meant is unknowable.
        expected = f"a multiple of {n_features}"
        if intercepts:
            expected = f"{n_features} × {len(intercepts)} (input features × intercepts)"
        raise ValueError(f"{len(coefficients)} coefficients, not {expected}")
    weights = _vector(coefficients, features).reshape(rows, n_features)
    scores = features @ weights.T
    return scores + _vector(intercepts, features) if intercepts else scores


def _binary(margin: Tensor, post_transform: str) -> tuple[Tensor, Tensor]:
    """One weight row for two classes, the way onnxruntime scores it (the ONNX reference
    differs): ``[1 - p, p]`` with ``p = sigmoid(margin)`` under LOGISTIC and ``p = margin``
    under every other transform; the second class wins when the margin is positive."""
    if post_transform == "PROBIT":
        raise UnsupportedModelError("a binary LinearClassifier with post_transform PROBIT")
    p = torch.sigmoid(margin) if post_transform == "LOGISTIC" else margin
    return torch.stack([1 - p, p], dim=1), (margin > 0).long()


@op("LinearClassifier", 1, domain=ML_DOMAIN)
def linear_classifier(
    x: Tensor,
    *,
    classlabels_ints: Sequence[int] | None = None,
    classlabels_strings: Sequence[str] | None = None,
    coefficients: Sequence[float],
    intercepts: Sequence[float] | None = None,
    multi_class: int = 0,
    post_transform: str = "NONE",
) -> tuple[Tensor, Tensor]:
    """Outputs (label, scores); the label has no gradient but is computed like onnxruntime."""
    scores = _linear(x, coefficients, intercepts)
    class_count = len(classlabels_ints or classlabels_strings or [])
    if scores.shape[1] == 1 and class_count == 2:
        scores, winner = _binary(scores[:, 0], post_transform)
    else:
        scores = _post_transform(scores, post_transform)
        if scores.shape[1] > 1:
            winner = scores.argmax(dim=1)
        else:
            threshold = 0.0 if post_transform == "NONE" else 0.5
            winner = (scores[:, 0] >= threshold).long()
    if classlabels_ints:
        label = torch.tensor(list(classlabels_ints), dtype=torch.int64, device=x.device)[winner]
    else:
        label = winner
    return label, scores


@op("LinearRegressor", 1, domain=ML_DOMAIN)
def linear_regressor(
    x: Tensor,
    *,
    coefficients: Sequence[float],
    intercepts: Sequence[float] | None = None,
    post_transform: str = "NONE",
    targets: int = 1,
) -> Tensor:
    return _post_transform(_linear(x, coefficients, intercepts), post_transform)


@op("Normalizer", 1, domain=ML_DOMAIN)
def normalizer(x: Tensor, *, norm: str = "MAX") -> Tensor:
    features = _features(x)
    if norm == "MAX":
        scale = features.amax(dim=1, keepdim=True)
    elif norm == "L1":
        scale = features.abs().sum(dim=1, keepdim=True)
    elif norm == "L2":
        scale = torch.linalg.vector_norm(features, 2, dim=1, keepdim=True)
    else:
        raise UnsupportedModelError(f"unknown Normalizer norm {norm!r}")
    # onnxruntime leaves a row alone when its norm is zero.
    return features / torch.where(scale == 0, torch.ones_like(scale), scale)


@op("Scaler", 1, domain=ML_DOMAIN)
def scaler(x: Tensor, *, offset: Sequence[float], scale: Sequence[float]) -> Tensor:
    features = _features(x)
    return (features - _vector(offset, features)) * _vector(scale, features)


@op("ArrayFeatureExtractor", 1, domain=ML_DOMAIN)
def array_feature_extractor(x: Tensor, indices: Tensor) -> Tensor:
    """Pick ``indices`` along the last axis; a 1-D input gives a ``(1, k)`` result as in
    onnxruntime (skl2onnx uses this to turn an argmax into a class label)."""
    picked = x.index_select(x.dim() - 1, indices.reshape(-1).long())
    return picked.reshape(1, -1) if x.dim() == 1 else picked


@op("ZipMap", 1, domain=ML_DOMAIN)
def zip_map(
    x: Tensor,
    *,
    classlabels_int64s: Sequence[int] | None = None,
    classlabels_strings: Sequence[str] | None = None,
) -> Tensor:
    """The probabilities themselves, not a sequence of {label: probability} maps."""
    return x
