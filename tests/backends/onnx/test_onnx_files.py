"""ONNX files as they arrive: external data, several outputs, unsupported operators, LFS pointers."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from robustcheck.cli import main


def _linear_model(weights: np.ndarray, *, extra_outputs: bool = False) -> onnx.ModelProto:
    w = numpy_helper.from_array(weights.astype(np.float32), "W")
    nodes = [
        helper.make_node("Flatten", ["x"], ["flat"]),
        helper.make_node("MatMul", ["flat", "W"], ["logits"]),
    ]
    outputs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])]
    if extra_outputs:
        nodes += [
            helper.make_node("ArgMax", ["logits"], ["label"], axis=1, keepdims=0),
            helper.make_node("Softmax", ["logits"], ["probs"], axis=1),
        ]
        outputs = [
            helper.make_tensor_value_info("label", TensorProto.INT64, ["N"]),
            *outputs,
            helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["N", 10]),
        ]
    graph = helper.make_graph(
        nodes,
        "linear",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 8, 8])],
        outputs,
        initializer=[w],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=10)


@pytest.fixture(scope="module")
def weights(linear_model) -> np.ndarray:
    return linear_model.module[1].weight.detach().numpy().T.copy()


def _scan(capsys, path: Path, data: Path, *extra: str) -> tuple[int, str, str]:
    code = main(["scan", str(path), "--data", str(data), "--eps", "0.1", *extra])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _external(tmp_path: Path, weights: np.ndarray, location: str = "weights.bin") -> Path:
    model = _linear_model(weights)
    path = tmp_path / "model.onnx"
    onnx.save_model(
        model,
        str(path),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location=location,
        size_threshold=0,
    )
    return path


def test_external_data_is_refused_unless_allowed(
    capsys, tmp_path, weights, digits_npz, linear_model
):
    path = _external(tmp_path, weights)
    code, out, err = _scan(capsys, path, digits_npz)
    assert code == 4 and "--allow-external-data" in err and "PASS" not in out
    code, out, err = _scan(
        capsys, path, digits_npz, "--allow-external-data", "--max-error-rate", "1"
    )
    assert code == 0, err
    assert "verdict: PASS" in out


@pytest.mark.parametrize("attack", ["symlink", "hardlink", "outside", "truncated"])
def test_external_data_containment(capsys, tmp_path, weights, digits_npz, attack):
    path = _external(tmp_path, weights)
    blob = tmp_path / "weights.bin"
    if attack == "symlink":
        real = tmp_path / "real.bin"
        blob.rename(real)
        blob.symlink_to(real)
    elif attack == "hardlink":
        os.link(blob, tmp_path / "second-link.bin")
    elif attack == "outside":
        inner = tmp_path / "inner"
        inner.mkdir()
        path = inner / "model.onnx"
        model = onnx.load(str(tmp_path / "model.onnx"), load_external_data=False)
        for init in model.graph.initializer:
            for entry in init.external_data:
                if entry.key == "location":
                    entry.value = "../weights.bin"
        onnx.save_model(model, str(path))
    else:
        blob.write_bytes(blob.read_bytes()[:100])
    code, out, err = _scan(capsys, path, digits_npz, "--allow-external-data")
    assert code == (3 if attack == "truncated" else 4), err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err and "PASS" not in out


def test_several_outputs_pick_class_scores_and_output_overrides(
    capsys, tmp_path, weights, digits_npz, linear_model
):
    path = tmp_path / "multi.onnx"
    onnx.save_model(_linear_model(weights, extra_outputs=True), str(path))
    report = tmp_path / "r.json"
    assert (
        main(
            [
                "scan",
                str(path),
                "--data",
                str(digits_npz),
                "--eps",
                "0.1",
                "--json",
                str(report),
                "--report-only",
            ]
        )
        == 0
    )
    import json

    data = json.loads(report.read_text())
    assert data["model"]["output_kind"] == "logits"
    assert any("picked output 'logits'" in w for w in data["warnings"])
    assert (
        main(
            [
                "scan",
                str(path),
                "--data",
                str(digits_npz),
                "--eps",
                "0.1",
                "--output",
                "probs",
                "--json",
                str(report),
                "--report-only",
            ]
        )
        == 0
    )
    assert json.loads(report.read_text())["model"]["output_kind"] == "probabilities"
    assert (
        main(["scan", str(path), "--data", str(digits_npz), "--eps", "0.1", "--output", "nope"])
        == 3
    )
    capsys.readouterr()


def test_every_unsupported_op_is_listed_at_once(capsys, tmp_path, digits_npz):
    nodes = [
        helper.make_node("Flatten", ["x"], ["f"]),
        helper.make_node("FancyOp", ["f"], ["g"], domain="com.example"),
        helper.make_node("OtherOp", ["g"], ["h"], domain="com.example"),
        helper.make_node("Identity", ["h"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 10])],
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)],
        ir_version=10,
    )
    path = tmp_path / "custom.onnx"
    path.write_bytes(model.SerializeToString())
    code, _out, err = _scan(capsys, path, digits_npz)
    assert code == 3
    assert "FancyOp" in err and "OtherOp" in err and str(path) in err
    assert len(err.strip().splitlines()) == 1
    assert main(["inspect", str(path)]) == 3
    assert "unsupported" in capsys.readouterr().out


def test_git_lfs_pointer_and_garbage(capsys, tmp_path, digits_npz):
    lfs = tmp_path / "model.onnx"
    lfs.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 123\n")
    code, _, err = _scan(capsys, lfs, digits_npz)
    assert code == 3 and "git lfs pull" in err
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(os.urandom(4096))
    code, _, err = _scan(capsys, junk, digits_npz)
    assert code == 3 and str(junk) in err and len(err.strip().splitlines()) == 1


def test_inspect_reports_io_and_ops(capsys, tmp_path, weights):
    path = tmp_path / "multi.onnx"
    onnx.save_model(_linear_model(weights, extra_outputs=True), str(path))
    assert main(["inspect", str(path)]) == 0
    out = capsys.readouterr().out
    assert "input     x: tensor(float) [N, 1, 8, 8]" in out
    assert "ai.onnx::MatMul opset 17  x1  ok" in out
    assert "ai.onnx::ArgMax opset 17  x1  ok, not differentiable" in out
    assert "every op supported" in out
