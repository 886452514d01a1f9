"""Every blocker to white-box scanning at once, query-only backends, and `inspect` agreeing with
`scan` on a zoo of models robustcheck cannot differentiate (and one it can)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from skl2onnx import to_onnx
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression

from robustcheck.backends.loader import load_backend
from robustcheck.cli import main
from robustcheck.errors import UnsupportedModelError


def _save(path, nodes, inputs, initializers, extra_domains=()):
    graph = helper.make_graph(
        nodes,
        "g",
        inputs,
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 10])],
        initializer=initializers,
    )
    opsets = [helper.make_opsetid("", 17), *(helper.make_opsetid(d, 1) for d in extra_domains)]
    path.write_bytes(
        helper.make_model(graph, opset_imports=opsets, ir_version=10).SerializeToString()
    )
    return path


def _weights(lr):
    w = numpy_helper.from_array(lr.coef_.T.astype(np.float32), "w")
    b = numpy_helper.from_array(lr.intercept_.astype(np.float32), "b")
    return [w, b]


@pytest.fixture(scope="module")
def zoo(digits, tmp_path_factory):
    """Models trained on digits (8×8 flattened, raw 0..16 counts for the integer one)."""
    d = tmp_path_factory.mktemp("blockers")
    x_train = digits.x_train.reshape(len(digits.x_train), -1)
    x_test = digits.x_test.reshape(len(digits.x_test), -1)[:100]
    y_test = digits.y_test[:100]
    lr = LogisticRegression(max_iter=500).fit(x_train, digits.y_train)
    raw = LogisticRegression(max_iter=2000).fit(np.rint(x_train * 16), digits.y_train)
    models = {}
    forest = RandomForestClassifier(n_estimators=20, max_depth=6, random_state=0)
    forest.fit(x_train, digits.y_train)
    onnx_forest = to_onnx(
        forest, x_train[:1], options={id(forest): {"zipmap": False}},
        target_opset={"": 17, "ai.onnx.ml": 3},
    )  # fmt: skip
    (d / "forest.onnx").write_bytes(onnx_forest.SerializeToString())
    models["forest"] = d / "forest.onnx"
    models["integer"] = _save(
        d / "integer.onnx",
        [
            helper.make_node("Cast", ["x"], ["xf"], to=TensorProto.FLOAT),
            helper.make_node("MatMul", ["xf", "w"], ["z"]),
            helper.make_node("Add", ["z", "b"], ["y"]),
        ],
        [helper.make_tensor_value_info("x", TensorProto.INT64, ["N", 64])],
        _weights(raw),
    )
    models["two_inputs"] = _save(
        d / "two.onnx",
        [
            helper.make_node("MatMul", ["x", "w"], ["z"]),
            helper.make_node("Add", ["z", "b"], ["z2"]),
            helper.make_node("Add", ["z2", "m"], ["y"]),
        ],
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 64]),
            helper.make_tensor_value_info("m", TensorProto.FLOAT, ["N", 10]),
        ],
        _weights(lr),
    )
    models["unsupported"] = _save(
        d / "custom.onnx",
        [
            helper.make_node("FancyOp", ["x"], ["f"], domain="com.example"),
            helper.make_node("MatMul", ["f", "w"], ["z"]),
            helper.make_node("Add", ["z", "b"], ["y"]),
        ],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 64])],
        _weights(lr),
        extra_domains=["com.example"],
    )
    models["all_at_once"] = _save(
        d / "all.onnx",
        [
            helper.make_node("Cast", ["c"], ["cf"], to=TensorProto.FLOAT),
            helper.make_node("FancyOp", ["x"], ["f"], domain="com.example"),
            helper.make_node("MatMul", ["f", "w"], ["z"]),
            helper.make_node("Add", ["z", "b"], ["z2"]),
            helper.make_node("Add", ["z2", "cf"], ["y"]),
        ],
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 64]),
            helper.make_tensor_value_info("c", TensorProto.INT64, ["N", 10]),
        ],
        _weights(lr),
        extra_domains=["com.example"],
    )
    linear = torch.nn.Linear(64, 10)
    with torch.no_grad():
        linear.weight.copy_(torch.from_numpy(lr.coef_))
        linear.bias.copy_(torch.from_numpy(lr.intercept_))
    torch.onnx.export(
        linear, (torch.from_numpy(x_test[:2]),), str(d / "plain.onnx"), input_names=["x"],
        output_names=["y"], dynamic_axes={"x": {0: "n"}, "y": {0: "n"}}, dynamo=False,
    )  # fmt: skip
    models["plain"] = d / "plain.onnx"
    data = d / "flat.npz"
    np.savez(data, x=x_test, y=y_test, m=np.zeros((100, 10), np.float32))
    counts = d / "counts.npz"
    np.savez(counts, x=np.rint(x_test * 16).astype(np.float32), y=y_test)
    return models, data, counts


@pytest.mark.parametrize(
    "name", ["forest", "integer", "two_inputs", "unsupported", "all_at_once", "plain"]
)
def test_inspect_exits_3_exactly_when_a_white_box_scan_refuses(zoo, name, capsys):
    models, data, _ = zoo
    path = models[name]
    inspected = main(["inspect", str(path)])
    shown = capsys.readouterr().out
    scanned = main(["scan", str(path), "--data", str(data), "--eps", "0.1", "--exit-zero"])
    err = capsys.readouterr().err
    assert inspected == scanned == (0 if name == "plain" else 3), (inspected, scanned, err)
    if name != "plain":
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
        assert "--attack square" in err and "--surrogate" in err
        assert "cannot scan with gradient attacks" in shown
    else:
        assert "every op supported" in shown


def test_every_blocker_is_listed_in_one_refusal(zoo, capsys):
    models, data, _ = zoo
    path = models["all_at_once"]
    assert main(["scan", str(path), "--data", str(data), "--eps", "0.1"]) == 3
    err = capsys.readouterr().err
    assert "2 inputs ('x': tensor(float), 'c': tensor(int64))" in err
    assert "com.example::FancyOp (opset 1)" in err
    assert main(["scan", str(path), "--data", str(data), "--eps", "0.1", "--input", "c"]) == 3
    err = capsys.readouterr().err
    assert "input 'c' has type tensor(int64)" in err and "FancyOp" in err
    # inspect lists the same blockers, computed by the same function.
    assert main(["inspect", str(path), "--json", "--input", "c"]) == 3
    inspection = json.loads(capsys.readouterr().out)
    assert len(inspection["blockers"]) == 2 and inspection["attacked_input"] == "c"
    assert {"square", "spsa", "nes"} <= set(inspection["gradient_free_attacks"])


def test_a_query_only_backend_scores_with_onnxruntime_and_refuses_gradients(zoo, digits):
    models, _, _ = zoo
    backend = load_backend(models["forest"], need_gradient=False)
    assert backend.info.differentiable_path == "none"
    assert any("TreeEnsembleClassifier" in b for b in backend.info.blockers)
    x = torch.from_numpy(digits.x_test[:50].reshape(50, -1))
    probs = backend.scores(x).numpy()
    assert probs.shape == (50, 10) and np.allclose(probs.sum(1), 1, atol=1e-5)
    with pytest.raises(UnsupportedModelError, match="query-only"):
        backend.forward(x)
    with pytest.raises(UnsupportedModelError) as refused:
        load_backend(models["forest"])
    assert "--attack square" in refused.value.one_line()


def test_an_integer_input_model_scans_with_spsa(zoo, tmp_path, capsys):
    models, _, counts = zoo
    report = tmp_path / "r.json"
    code = main(
        ["scan", str(models["integer"]), "--data", str(counts), "--eps", "2", "--eps", "4",
         "--input-range", "0", "16", "--attack", "spsa:queries=200", "--exit-zero",
         "--json", str(report)]
    )  # fmt: skip
    capsys.readouterr()
    assert code == 0
    result = json.loads(report.read_text())
    assert result["fidelity"]["paths"] == "none"
    assert result["fidelity"]["clean_max_abs_probability_difference"] is None
    errors = {(r["attack"], r["eps"]): r["adversarial_errors"] for r in result["results"]}
    assert errors[("spsa", 4.0)] > errors[("noise", 4.0)]
    assert any("no gradient path" in w for w in result["warnings"])
    assert {c["attack"] for c in result["checks"] if c["attack"]} == {"spsa"}


def test_find_min_eps_without_a_gradient_path_is_a_usage_error(zoo, capsys):
    models, data, _ = zoo
    code = main(
        ["scan", str(models["forest"]), "--data", str(data), "--eps", "0.1",
         "--attack", "spsa", "--find-min-eps"]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "--find-min-eps" in err and "TreeEnsembleClassifier" in err


def test_label_only_outputs_are_refused_naming_the_missing_probabilities(zoo, tmp_path, capsys):
    import onnx

    models, data, _ = zoo
    model = onnx.load(str(models["forest"]))
    keep = [o for o in model.graph.output if o.name == "label"]
    del model.graph.output[:]
    model.graph.output.extend(keep)
    path = tmp_path / "labels.onnx"
    path.write_bytes(model.SerializeToString())
    code = main(["scan", str(path), "--data", str(data), "--eps", "0.1", "--attack", "spsa"])
    err = capsys.readouterr().err
    assert code == 3 and "labels only" in err and "probabilit" in err
