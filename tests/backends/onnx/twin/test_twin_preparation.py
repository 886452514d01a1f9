"""Preparing and running a twin: what is refused, what is converted once, how fast.

Everything that does not depend on the inputs happens when the twin is built; these tests
pin down the refusals and conversions of that step and of ``run``.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper

from robustcheck.backends.onnx.twin import OnnxTwin
from robustcheck.errors import DataError, ModelError, UnsupportedModelError, UsageError

FLOAT = TensorProto.FLOAT


def _x(*shape: int) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info("x", FLOAT, list(shape))


def test_unknown_attributes_are_refused(graph_model: Any) -> None:
    model = graph_model([helper.make_node("Relu", ["x"], ["y"], mystery=1)], [_x(2)], ["y"])
    with pytest.raises(UnsupportedModelError, match="mystery"):
        OnnxTwin(model)


def test_feeds_and_outputs_are_checked(graph_model: Any) -> None:
    model = graph_model([helper.make_node("Relu", ["x"], ["y"])], [_x(2)], ["y"])
    twin = OnnxTwin(model)
    with pytest.raises(DataError, match="was not fed"):
        twin.run({})
    with pytest.raises(DataError, match="no input"):
        twin.run({"x": torch.ones(2), "z": torch.ones(2)})
    with pytest.raises(UsageError, match="nope"):
        twin.run({"x": torch.ones(2)}, outputs=["nope"])


def test_an_optional_output_the_twin_does_not_compute_is_refused(graph_model: Any) -> None:
    stats = [
        onnx.numpy_helper.from_array(np.ones(2, np.float32), name=n) for n in ("s", "b", "m", "v")
    ]
    model = graph_model(
        [helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y", "mean"])],
        [_x(1, 2, 3)],
        ["y", "mean"],
        opsets={"": 9},
        initializers=stats,
    )
    with pytest.raises(UnsupportedModelError, match="output #1"):
        OnnxTwin(model).run({"x": torch.ones(1, 2, 3)})


def test_model_local_functions_are_inlined(graph_model: Any) -> None:
    body = [helper.make_node("Relu", ["a"], ["r"]), helper.make_node("Neg", ["r"], ["out"])]
    function = helper.make_function(
        "local", "NegRelu", ["a"], ["out"], body, [helper.make_opsetid("", 13)]
    )
    model = graph_model(
        [helper.make_node("NegRelu", ["x"], ["y"], domain="local")],
        [_x(3)],
        ["y"],
        opsets={"": 13, "local": 1},
    )
    model.functions.append(function)
    y = OnnxTwin(model).run({"x": torch.tensor([-1.0, 0.5, 2.0])})["y"]
    torch.testing.assert_close(y, torch.tensor([0.0, -0.5, -2.0]))


def test_initializers_of_every_supported_type_convert_once(graph_model: Any) -> None:
    arrays = {
        "f16": np.array([1.5, -2.0], dtype=np.float16),
        "f64": np.array([0.1], dtype=np.float64),
        "i64": np.array([[1, -(2**40)]], dtype=np.int64),
        "i8": np.array([-3], dtype=np.int8),
        "u8": np.array([200], dtype=np.uint8),
        "flag": np.array([True, False]),
    }
    inits = [onnx.numpy_helper.from_array(v, name=k) for k, v in arrays.items()]
    inits.append(helper.make_tensor("bf16", TensorProto.BFLOAT16, [2], [1.5, -0.25]))
    inits.append(helper.make_tensor("typed", TensorProto.INT64, [3], [4, 5, 6]))
    names = [*arrays, "bf16", "typed"]
    nodes = [helper.make_node("Identity", [n], [f"out_{n}"]) for n in names]
    twin = OnnxTwin(graph_model(nodes, [], [f"out_{n}" for n in names], initializers=inits))
    out = twin.run({})
    for name, value in arrays.items():
        np.testing.assert_array_equal(out[f"out_{name}"].numpy(), value)
    assert out["out_bf16"].dtype == torch.bfloat16
    torch.testing.assert_close(out["out_bf16"].float(), torch.tensor([1.5, -0.25]))
    assert out["out_typed"].tolist() == [4, 5, 6]


def test_external_data_that_was_not_loaded_is_a_model_error(graph_model: Any) -> None:
    tensor = onnx.numpy_helper.from_array(np.ones(4, np.float32), name="w")
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    tensor.external_data.add(key="location", value="weights.bin")
    model = graph_model(
        [helper.make_node("Add", ["x", "w"], ["y"])], [_x(4)], ["y"], initializers=[tensor]
    )
    with pytest.raises(ModelError, match="external"):
        OnnxTwin(model)


def test_to_float64_runs_the_float_path_in_float64(graph_model: Any) -> None:
    constant = helper.make_node(
        "Constant", [], ["c"], value=onnx.numpy_helper.from_array(np.array([0.5], np.float32))
    )
    model = graph_model(
        [
            constant,
            helper.make_node("Cast", ["x"], ["xf"], to=FLOAT),
            helper.make_node("Mul", ["xf", "c"], ["y"]),
        ],
        [helper.make_tensor_value_info("x", TensorProto.DOUBLE, [3])],
        ["y"],
    )
    twin = OnnxTwin(model)
    assert twin.run({"x": torch.ones(3, dtype=torch.float64)})["y"].dtype == torch.float32
    assert twin.to(dtype=torch.float64) is twin
    x = torch.rand(3, dtype=torch.float64, requires_grad=True)
    y = twin.run({"x": x})["y"]
    assert y.dtype == torch.float64
    assert torch.autograd.gradcheck(lambda v: twin.run({"x": v})["y"], (x,))


def test_building_a_resnet50_sized_graph_takes_well_under_a_few_seconds(graph_model: Any) -> None:
    """~170 nodes and ~25M parameters: initializers are converted once, nothing is copied."""
    channels, blocks = 256, 42
    nodes, inits, previous = [], [], "x"
    for i in range(blocks):
        weight = np.full((channels, channels, 3, 3), 1e-3, dtype=np.float32)
        inits.append(onnx.numpy_helper.from_array(weight, name=f"w{i}"))
        for stat in ("s", "b", "m", "v"):
            inits.append(
                onnx.numpy_helper.from_array(np.ones(channels, np.float32), name=f"{stat}{i}")
            )
        nodes += [
            helper.make_node("Conv", [previous, f"w{i}"], [f"c{i}"], pads=[1, 1, 1, 1]),
            helper.make_node(
                "BatchNormalization", [f"c{i}", f"s{i}", f"b{i}", f"m{i}", f"v{i}"], [f"n{i}"]
            ),
            helper.make_node("Relu", [f"n{i}"], [f"r{i}"]),
            helper.make_node("Add", [f"r{i}", previous], [f"a{i}"]),
        ]
        previous = f"a{i}"
    model = graph_model(
        nodes, [_x(1, channels, 4, 4)], [previous], opsets={"": 15}, initializers=inits
    )
    started = time.perf_counter()
    twin = OnnxTwin(model)
    elapsed = time.perf_counter() - started
    assert elapsed < 2.0, f"building took {elapsed:.2f}s"
    with torch.no_grad():
        assert twin.run({"x": torch.zeros(1, channels, 4, 4)})[previous].shape == (
            1,
            channels,
            4,
            4,
        )


def test_scalars_stay_scalars(graph_model: Any, ort_run: Any) -> None:
    """0-d initializers and constants (a raw_data scalar once came back with shape (1,))."""
    one = helper.make_node(
        "Constant", [], ["one"], value=onnx.numpy_helper.from_array(np.array(1, dtype=np.int64))
    )
    model = graph_model(
        [
            one,
            helper.make_node("Gather", ["x", "one"], ["picked"], axis=1),
            helper.make_node("Gather", ["picked", "zero"], ["corner"]),
            helper.make_node("Add", ["corner", "half"], ["y"]),
        ],
        [_x(2, 3)],
        ["picked", "y"],
        initializers=[
            onnx.numpy_helper.from_array(np.array(0, dtype=np.int64), name="zero"),
            onnx.numpy_helper.from_array(np.array(0.5, dtype=np.float32), name="half"),
        ],
    )
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    expected = ort_run(model, {"x": x})
    out = OnnxTwin(model).run({"x": torch.from_numpy(x)})
    for name, want in zip(("picked", "y"), expected, strict=True):
        assert out[name].shape == want.shape
        np.testing.assert_array_equal(out[name].numpy(), want)
