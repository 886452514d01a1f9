"""The ai.onnx.ml operators, which onnx.backend.test has no node cases for, vs onnxruntime."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from robustcheck.backends.onnx.twin import OnnxTwin
from robustcheck.backends.onnx.twin.tensors import tensor_from_numpy, tensor_to_numpy

ML = "ai.onnx.ml"
_X = np.random.default_rng(5).normal(size=(6, 4)).astype(np.float32)
_X_WITH_ZERO_ROW = np.vstack([_X, np.zeros((1, 4), np.float32)])
_COEFFICIENTS = np.random.default_rng(6).normal(size=12).round(3).tolist()


def _twin_outputs(model: Any, x: np.ndarray) -> list[np.ndarray]:
    twin = OnnxTwin(model)
    with torch.no_grad():
        outputs = twin.run({"x": tensor_from_numpy(x)})
    return [tensor_to_numpy(outputs[name]) for name in twin.output_names]


# fmt: off
CLASSIFIERS = {
    "softmax": {"post_transform": "SOFTMAX", "coefficients": _COEFFICIENTS, "intercepts": [0.1, -0.2, 0.3], "classlabels_ints": [3, 5, 7]},
    "logistic": {"post_transform": "LOGISTIC", "coefficients": _COEFFICIENTS, "intercepts": [0.1, -0.2, 0.3], "classlabels_ints": [0, 1, 2]},
    "none": {"post_transform": "NONE", "coefficients": _COEFFICIENTS, "intercepts": [0.0, 0.0, 0.0], "classlabels_ints": [0, 1, 2]},
    "softmax_zero": {"post_transform": "SOFTMAX_ZERO", "coefficients": _COEFFICIENTS, "intercepts": [0.0, 0.5, 0.0], "classlabels_ints": [0, 1, 2]},
    "binary_none": {"post_transform": "NONE", "coefficients": _COEFFICIENTS[:4], "intercepts": [0.2], "classlabels_ints": [0, 1]},
    "binary_logistic": {"post_transform": "LOGISTIC", "coefficients": _COEFFICIENTS[:4], "intercepts": [0.2], "classlabels_ints": [4, 9]},
    "binary_softmax": {"post_transform": "SOFTMAX", "coefficients": _COEFFICIENTS[:4], "intercepts": [-0.1], "classlabels_ints": [0, 1]},
}
# fmt: on


@pytest.mark.parametrize("attributes", CLASSIFIERS.values(), ids=CLASSIFIERS.keys())
def test_linear_classifier_matches_onnxruntime(
    attributes: dict[str, Any], node_model: Any, ort_run: Any
) -> None:
    model = node_model("LinearClassifier", [("x", _X)], opset=1, domain=ML, outputs=2, **attributes)
    want_label, want_scores = ort_run(model, {"x": _X})
    label, scores = _twin_outputs(model, _X)
    np.testing.assert_allclose(scores, want_scores, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(label, want_label)
    assert scores.dtype == np.float32 and label.dtype == np.int64


def test_linear_classifier_string_labels_give_class_indices(node_model: Any, ort_run: Any) -> None:
    model = node_model(
        "LinearClassifier",
        [("x", _X)],
        opset=1,
        domain=ML,
        outputs=2,
        coefficients=_COEFFICIENTS,
        intercepts=[0.0, 1.0, 0.0],
        post_transform="SOFTMAX",
        classlabels_strings=["a", "b", "c"],
    )
    want_label, want_scores = ort_run(model, {"x": _X})
    label, scores = _twin_outputs(model, _X)
    np.testing.assert_allclose(scores, want_scores, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(np.array(["a", "b", "c"])[label], want_label)


@pytest.mark.parametrize("targets", [1, 3])
def test_linear_regressor_matches_onnxruntime(targets: int, node_model: Any, ort_run: Any) -> None:
    model = node_model(
        "LinearRegressor",
        [("x", _X)],
        opset=1,
        domain=ML,
        coefficients=_COEFFICIENTS[: 4 * targets],
        intercepts=[0.5] * targets,
        targets=targets,
    )
    (want,) = ort_run(model, {"x": _X})
    np.testing.assert_allclose(_twin_outputs(model, _X)[0], want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("norm", ["MAX", "L1", "L2"])
def test_normalizer_matches_onnxruntime(norm: str, node_model: Any, ort_run: Any) -> None:
    model = node_model("Normalizer", [("x", _X_WITH_ZERO_ROW)], opset=1, domain=ML, norm=norm)
    (want,) = ort_run(model, {"x": _X_WITH_ZERO_ROW})
    np.testing.assert_allclose(
        _twin_outputs(model, _X_WITH_ZERO_ROW)[0], want, rtol=1e-5, atol=1e-6
    )


def test_scaler_matches_onnxruntime(node_model: Any, ort_run: Any) -> None:
    model = node_model(
        "Scaler",
        [("x", _X)],
        opset=1,
        domain=ML,
        offset=[0.5, -1.0, 0.0, 2.0],
        scale=[2.0, 0.5, 1.0, -1.0],
    )
    (want,) = ort_run(model, {"x": _X})
    np.testing.assert_allclose(_twin_outputs(model, _X)[0], want, rtol=1e-6)


@pytest.mark.parametrize("x", [_X, _X[0], _X.reshape(2, 3, 4)], ids=["2d", "1d", "3d"])
def test_array_feature_extractor_matches_onnxruntime(
    x: np.ndarray, node_model: Any, ort_run: Any
) -> None:
    indices = np.array([[3], [0]], dtype=np.int64)
    model = node_model("ArrayFeatureExtractor", [("x", x), ("i", indices)], opset=1, domain=ML)
    (want,) = ort_run(model, {"x": x, "i": indices})
    twin = OnnxTwin(model)
    got = twin.run({"x": tensor_from_numpy(x), "i": tensor_from_numpy(indices)})["y0"]
    np.testing.assert_array_equal(tensor_to_numpy(got), want)


@pytest.mark.parametrize(
    "labels", [{"classlabels_int64s": [0, 1, 2, 3]}, {"classlabels_strings": ["w", "x", "y", "z"]}]
)
def test_zipmap_passes_the_probabilities_through(
    labels: dict[str, Any], node_model: Any, ort_run: Any
) -> None:
    """onnxruntime returns one {label: probability} map per row; the twin the tensor itself."""
    model = node_model("ZipMap", [("x", _X)], opset=1, domain=ML, **labels)
    (maps,) = ort_run(model, {"x": _X})
    keys = next(iter(labels.values()))
    want = np.array([[row[key] for key in keys] for row in maps], dtype=np.float32)
    np.testing.assert_allclose(_twin_outputs(model, _X)[0], want, rtol=1e-6)
