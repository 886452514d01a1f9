"""When the gradient twin cannot run a graph onnxruntime accepts, the scan never exits 6: a
gradient attack is refused (exit 3, one line naming the node's name and op type), and gradient-free
attacks still scan the model on its runtime alone."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from robustcheck.cli import main


def _logistic_regression(path, n_features: int = 4, declared: int = 2):
    """A public-style LinearClassifier (3 classes, ``n_features`` coefficients each) whose declared
    input ``[3, declared]`` disagrees with its coefficients: onnxruntime sizes the classes from the
    intercepts and runs it anyway."""
    coefficients = np.random.default_rng(0).normal(size=3 * n_features).round(3).tolist()
    node = helper.make_node(
        "LinearClassifier", ["x"], ["label", "probabilities"], name="linear_clf",
        domain="ai.onnx.ml", coefficients=coefficients, intercepts=[0.1, -0.2, 0.3],
        classlabels_ints=[0, 1, 2], post_transform="SOFTMAX",
    )  # fmt: skip
    graph = helper.make_graph(
        [node],
        "logreg",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, declared])],
        [
            helper.make_tensor_value_info("label", TensorProto.INT64, [3]),
            helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [3, 3]),
        ],
    )
    opsets = [helper.make_opsetid("", 17), helper.make_opsetid("ai.onnx.ml", 1)]
    path.write_bytes(
        helper.make_model(graph, opset_imports=opsets, ir_version=8).SerializeToString()
    )
    return path


@pytest.fixture
def logreg(tmp_path):
    model = _logistic_regression(tmp_path / "logreg.onnx")
    x = np.random.default_rng(1).random((30, 2)).astype(np.float32)
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    (scores,) = session.run(["probabilities"], {"x": x[:3]})  # the runtime accepts the graph
    assert scores.shape == (3, 3)
    data = tmp_path / "data.npz"
    np.savez(data, x=x)
    return model, data


def test_a_gradient_attack_is_refused_naming_the_node(logreg, capsys):
    model, data = logreg
    code = main(["scan", str(model), "--data", str(data), "--eps", "0.1", "--no-isolation"])
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 3 and len(lines) == 1 and "Traceback" not in err, err
    assert f"{model}: the gradient twin cannot compute node 'linear_clf' " in lines[0]
    assert "(ai.onnx.ml::LinearClassifier)" in lines[0]
    assert "12 coefficients" in lines[0] and "--attack square" in lines[0]


def test_gradient_free_attacks_still_scan_it(logreg, tmp_path, capsys):
    model, data = logreg
    report = tmp_path / "r.json"
    argv = ["scan", str(model), "--data", str(data), "--eps", "0.1", "--attack", "spsa"]
    code = main([*argv, "--json", str(report)])
    capsys.readouterr()
    assert code in (0, 1)
    written = json.loads(report.read_text())
    assert written["fidelity"]["paths"] == "none"
    assert [m["method"] for m in written["methods"]] == ["estimated-gradient", "random"]


def test_the_isolated_scan_says_the_same(logreg, capsys):
    model, data = logreg
    code = main(["scan", str(model), "--data", str(data), "--eps", "0.1"])
    err = capsys.readouterr().err
    assert code == 3 and "'linear_clf' (ai.onnx.ml::LinearClassifier)" in err, err


def test_onnx_checker_agrees_the_graph_is_wellformed(tmp_path):
    """The graph is not malformed ONNX: only the twin and the runtime read it differently."""
    onnx.checker.check_model(onnx.load(str(_logistic_regression(tmp_path / "m.onnx"))))
