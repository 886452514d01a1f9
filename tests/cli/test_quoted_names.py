"""Names that come from a model, a data file or the user are quoted in messages (``'bytes'``), as
robustcheck's other messages quote them, so a name with spaces or commas reads unambiguously."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from robustcheck.cli import main


def _model(path, inputs: dict[str, int], output: str = "scores"):
    """``scores = Cast(first input) @ W`` plus every other input cast and summed in."""
    names = list(inputs)
    nodes = [
        helper.make_node("Cast", [names[0]], ["f"], to=TensorProto.FLOAT),
        helper.make_node("MatMul", ["f", "W"], [output if len(names) == 1 else "s0"]),
    ]
    for i, name in enumerate(names[1:], 1):
        nodes.append(helper.make_node("Cast", [name], [f"c{i}"], to=TensorProto.FLOAT))
        last = output if i == len(names) - 1 else f"s{i}"
        nodes.append(helper.make_node("Add", [f"s{i - 1}", f"c{i}"], [last]))
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info(n, t, ["N", 4]) for n, t in inputs.items()],
        [helper.make_tensor_value_info(output, TensorProto.FLOAT, ["N", 4])],
        initializer=[numpy_helper.from_array(np.eye(4, dtype=np.float32), "W")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    path.write_bytes(model.SerializeToString())
    return path


@pytest.fixture
def data(tmp_path):
    path = tmp_path / "data.npz"
    np.savez(path, x=np.random.default_rng(0).random((8, 4)).astype(np.float32))
    return path


def _line(argv, capsys) -> str:
    code = main(argv)
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code in (2, 3) and len(lines) == 1, err
    return lines[0]


def test_integer_inputs_without_an_embedding_lookup_are_quoted(tmp_path, data, capsys):
    model = _model(tmp_path / "bytes.onnx", {"bytes": TensorProto.UINT8})
    line = _line(["scan", str(model), "--data", str(data), "--eps", "0.1"], capsys)
    assert "integer inputs 'bytes' but no word-embedding lookup" in line
    model = _model(
        tmp_path / "two.onnx", {"raw bytes": TensorProto.UINT8, "ids, padded": TensorProto.INT64}
    )
    line = _line(["scan", str(model), "--data", str(data), "--eps", "0.1"], capsys)
    assert "integer inputs 'raw bytes', 'ids, padded' but no word-embedding lookup" in line


def test_input_and_output_listings_are_quoted(tmp_path, data, capsys):
    model = _model(
        tmp_path / "m.onnx", {"pixels": TensorProto.FLOAT, "meta data": TensorProto.FLOAT}
    )
    argv = ["scan", str(model), "--data", str(data), "--eps", "0.1"]
    line = _line(argv, capsys)
    assert "2 inputs ('pixels': tensor(float), 'meta data': tensor(float))" in line
    line = _line([*argv, "--input", "image"], capsys)
    assert "--input 'image' is not an input of the model (have: 'pixels', 'meta data')" in line
    line = _line([*argv, "--input", "pixels"], capsys)
    assert "no array for the model input(s) 'meta data' (found: 'x')" in line
    npy = tmp_path / "x.npy"
    np.save(npy, np.zeros((8, 4), np.float32))
    line = _line(
        ["scan", str(model), "--data", str(npy), "--eps", "0.1", "--input", "pixels"], capsys
    )
    assert "has other inputs ('meta data') besides 'pixels'" in line
    line = _line([*argv, "--input", "pixels", "--output", "logits"], capsys)
    assert "--output 'logits' is not an output (have: 'scores')" in line


def test_npz_array_listings_are_quoted(tmp_path, capsys):
    model = _model(tmp_path / "m.onnx", {"x": TensorProto.FLOAT})
    data = tmp_path / "d.npz"
    np.savez(data, **{"inputs, float": np.zeros((4, 4), np.float32)})
    line = _line(["scan", str(model), "--data", str(data), "--eps", "0.1"], capsys)
    assert "no array named 'x' (found: 'inputs, float')" in line
