"""Property tests for the index arithmetic that is easiest to get subtly wrong.

onnxruntime is the oracle for Slice: it follows the spec's clamping, under which
``x[-9:-9:-1]`` on a length-5 axis keeps element 0 (Python slicing, and the ONNX reference,
return nothing). numpy is the oracle for Pad and Gather, whose semantics it shares.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from robustcheck.backends.onnx.twin import OnnxTwin
from robustcheck.backends.onnx.twin.tensors import tensor_from_numpy

_SHAPE = (4, 5, 6)
_X = np.arange(np.prod(_SHAPE), dtype=np.float32).reshape(_SHAPE)

_bounds = st.integers(min_value=-9, max_value=9) | st.sampled_from([-(2**63), 2**63 - 1])


def _run(model: Any, feeds: dict[str, np.ndarray]) -> np.ndarray:
    twin = OnnxTwin(model)
    with torch.no_grad():
        out = twin.run({name: tensor_from_numpy(value) for name, value in feeds.items()})
    return out[twin.output_names[0]].numpy()


@settings(max_examples=60, deadline=None, database=None, derandomize=True)
@given(
    axes=st.lists(
        st.integers(min_value=-3, max_value=2), min_size=1, max_size=3, unique_by=lambda a: a % 3
    ),
    data=st.data(),
)
def test_slice_matches_onnxruntime(
    axes: list[int], data: st.DataObject, node_model: Any, ort_run: Any
) -> None:
    starts = data.draw(st.lists(_bounds, min_size=len(axes), max_size=len(axes)))
    ends = data.draw(st.lists(_bounds, min_size=len(axes), max_size=len(axes)))
    steps = data.draw(
        st.lists(st.sampled_from([-3, -2, -1, 1, 2, 3]), min_size=len(axes), max_size=len(axes))
    )
    named = (("s", starts), ("e", ends), ("a", axes), ("st", steps))
    inputs = [("x", _X), *((n, np.array(v, dtype=np.int64)) for n, v in named)]
    model = node_model("Slice", inputs, opset=13)
    (expected,) = ort_run(model, dict(inputs))
    np.testing.assert_array_equal(_run(model, dict(inputs)), expected)


@settings(max_examples=60, deadline=None, database=None, derandomize=True)
@given(
    mode=st.sampled_from(["constant", "edge", "reflect", "wrap"]),
    pads=st.lists(st.integers(min_value=0, max_value=3), min_size=6, max_size=6),
)
def test_pad_matches_numpy(mode: str, pads: list[int], node_model: Any) -> None:
    inputs = [
        ("x", _X),
        ("p", np.array(pads, dtype=np.int64)),
        ("v", np.array(-1.5, dtype=np.float32)),
    ]
    model = node_model("Pad", inputs, opset=19, mode=mode)
    width = list(zip(pads[:3], pads[3:], strict=True))
    kwargs = {"constant_values": -1.5} if mode == "constant" else {}
    expected = np.pad(_X, width, mode=mode, **kwargs)  # type: ignore[call-overload]
    np.testing.assert_array_equal(_run(model, dict(inputs)), expected)


@settings(max_examples=40, deadline=None, database=None, derandomize=True)
@given(
    axis=st.integers(min_value=-3, max_value=2),
    indices=st.lists(st.integers(min_value=-4, max_value=3), min_size=1, max_size=6),
)
def test_gather_matches_numpy_take(axis: int, indices: list[int], node_model: Any) -> None:
    where = np.array(indices, dtype=np.int64).reshape(-1, 1)
    inputs = [("x", _X), ("i", where)]
    model = node_model("Gather", inputs, opset=13, axis=axis)
    np.testing.assert_array_equal(_run(model, dict(inputs)), np.take(_X, where, axis=axis))
