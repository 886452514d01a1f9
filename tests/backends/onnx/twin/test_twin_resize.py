"""Resize against onnxruntime over a grid of modes, coordinate transforms and odd scales.

Resize has the most knobs of any operator and the ONNX reference departs from onnxruntime
in corner cases (fractional output lengths, float32 rounding of coordinates); the twin
must agree with the runtime whose predictions it explains.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest
import torch

from robustcheck.backends.onnx.twin import OnnxTwin

_X = np.random.default_rng(3).normal(size=(1, 2, 5, 7)).astype(np.float32)
_NO_ROI = np.zeros(0, dtype=np.float32)
MODES = ("nearest", "linear", "cubic")
TRANSFORMS = (
    "half_pixel",
    "half_pixel_symmetric",
    "pytorch_half_pixel",
    "align_corners",
    "asymmetric",
)
SCALES = ((1, 1, 0.6, 1.7), (1, 1, 1.5, 2.3), (1, 1, 0.4, 0.3), (1, 1, 2, 3))


def _compare(
    inputs: list[tuple[str, Any]], node_model: Any, ort_run: Any, opset: int = 19, **attributes: Any
) -> None:
    model = node_model("Resize", inputs, opset=opset, **attributes)
    feeds = {name: value for name, value in inputs if name}
    (want,) = ort_run(model, feeds)
    with torch.no_grad():
        got = OnnxTwin(model).run({k: torch.from_numpy(v) for k, v in feeds.items()})["y0"]
    assert got.shape == want.shape
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    ("mode", "transform", "scales"), list(itertools.product(MODES, TRANSFORMS, SCALES))
)
def test_scales(
    mode: str, transform: str, scales: tuple[float, ...], node_model: Any, ort_run: Any
) -> None:
    inputs = [("x", _X), ("roi", _NO_ROI), ("scales", np.array(scales, dtype=np.float32))]
    _compare(inputs, node_model, ort_run, mode=mode, coordinate_transformation_mode=transform)


@pytest.mark.parametrize(
    ("mode", "sizes"), list(itertools.product(MODES, ((1, 2, 8, 3), (1, 2, 2, 11))))
)
def test_sizes(mode: str, sizes: tuple[int, ...], node_model: Any, ort_run: Any) -> None:
    inputs = [("x", _X), ("", None), ("", None), ("sizes", np.array(sizes, dtype=np.int64))]
    _compare(inputs, node_model, ort_run, mode=mode)


@pytest.mark.parametrize(
    "nearest_mode", ["round_prefer_floor", "round_prefer_ceil", "floor", "ceil"]
)
def test_nearest_rounding(nearest_mode: str, node_model: Any, ort_run: Any) -> None:
    inputs = [("x", _X), ("roi", _NO_ROI), ("scales", np.array([1, 1, 1.6, 2.5], dtype=np.float32))]
    _compare(inputs, node_model, ort_run, mode="nearest", nearest_mode=nearest_mode)


@pytest.mark.parametrize("mode", MODES)
def test_tf_crop_and_resize_extrapolates(mode: str, node_model: Any, ort_run: Any) -> None:
    roi = np.array([0, 0, -0.2, 0.2, 1, 1, 1.3, 0.9], dtype=np.float32)
    inputs = [("x", _X), ("roi", roi), ("scales", np.array([1, 1, 1.9, 1.3], dtype=np.float32))]
    _compare(
        inputs,
        node_model,
        ort_run,
        mode=mode,
        coordinate_transformation_mode="tf_crop_and_resize",
        extrapolation_value=3.0,
    )


@pytest.mark.parametrize(
    "attributes",
    [
        {"mode": "linear", "antialias": 1},
        {"mode": "cubic", "antialias": 1},
        {"mode": "linear", "antialias": 1, "exclude_outside": 1},
        {"mode": "cubic", "exclude_outside": 1, "cubic_coeff_a": -0.5},
    ],
)
def test_antialias_and_exclude_outside(
    attributes: dict[str, Any], node_model: Any, ort_run: Any
) -> None:
    scales = np.array([1, 1, 1.6, 0.45], dtype=np.float32)
    _compare([("x", _X), ("roi", _NO_ROI), ("scales", scales)], node_model, ort_run, **attributes)


@pytest.mark.parametrize(
    ("mode", "scales"),
    list(itertools.product(["nearest", "linear"], ((1, 1, 1.5, 2.5), (1, 1, 0.5, 0.6)))),
)
def test_opset_10_maps_coordinates_asymmetrically(
    mode: str, scales: tuple[float, ...], node_model: Any, ort_run: Any
) -> None:
    inputs = [("x", _X), ("scales", np.array(scales, dtype=np.float32))]
    _compare(inputs, node_model, ort_run, opset=10, mode=mode)
