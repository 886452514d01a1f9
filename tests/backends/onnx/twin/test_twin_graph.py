"""The twin as a whole: naming unsupported operators, resolving opsets, explaining cut
gradients, and agreeing with onnxruntime (outputs) and PyTorch (input gradients) on real
exported models."""

from __future__ import annotations

import io
import warnings
from typing import Any

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper

from robustcheck.backends.onnx.twin import (
    OnnxTwin,
    default_registry,
    non_differentiable_nodes,
    unsupported_ops,
)
from robustcheck.errors import UnsupportedModelError

FLOAT = TensorProto.FLOAT


def _x(*shape: int) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info("x", FLOAT, list(shape))


def test_all_unsupported_ops_are_named_at_once_in_one_line(graph_model: Any) -> None:
    model = graph_model(
        [
            helper.make_node("Foo", ["x"], ["a"]),
            helper.make_node("Bar", ["a"], ["b"], domain="com.example"),
            helper.make_node(
                "TreeEnsembleClassifier", ["b"], ["label", "probabilities"], domain="ai.onnx.ml"
            ),
            helper.make_node("Relu", ["x"], ["c"]),
        ],
        [_x(2, 3)],
        ["label", "probabilities", "c"],
        opsets={"": 17, "com.example": 1, "ai.onnx.ml": 3},
    )
    expected = [
        ("", "Foo", 17),
        ("ai.onnx.ml", "TreeEnsembleClassifier", 3),
        ("com.example", "Bar", 1),
    ]
    assert unsupported_ops(model, default_registry()) == expected
    with pytest.raises(UnsupportedModelError) as caught:
        OnnxTwin(model, source="model.onnx")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("model.onnx uses 3 operators the gradient twin does not implement: ")
    for text in (
        "ai.onnx.ml::TreeEnsembleClassifier (opset 3)",
        "::Foo (opset 17)",
        "com.example::Bar (opset 1)",
    ):
        assert text in message
    assert message.endswith("; see docs/onnx-ops.md or open an issue")
    assert caught.value.ops == expected  # type: ignore[attr-defined]


def test_operators_inside_subgraphs_are_listed_with_the_rest(graph_model: Any) -> None:
    def branch(op_type: str, output: str) -> onnx.GraphProto:
        return helper.make_graph(
            [helper.make_node(op_type, ["x"], [output])],
            op_type,
            [],
            [helper.make_empty_tensor_value_info(output)],
        )

    model = graph_model(
        [
            helper.make_node(
                "If",
                ["cond"],
                ["out"],
                then_branch=branch("Identity", "a"),
                else_branch=branch("Foo", "b"),
            )
        ],
        [helper.make_tensor_value_info("cond", TensorProto.BOOL, []), _x(2)],
        ["out"],
    )
    assert unsupported_ops(model, default_registry()) == [("", "Foo", 13)]


def test_initializers_listed_as_graph_inputs_are_not_inputs(graph_model: Any) -> None:
    weight = onnx.numpy_helper.from_array(np.eye(3, dtype=np.float32) * 2, name="w")
    model = graph_model(
        [helper.make_node("MatMul", ["x", "w"], ["y"])],
        [_x(2, 3), helper.make_tensor_value_info("w", FLOAT, [3, 3])],
        ["y"],
        initializers=[weight],
    )
    twin = OnnxTwin(model)
    assert twin.input_names == ["x"] and twin.output_names == ["y"]
    y = twin.run({"x": torch.ones(2, 3)})["y"]
    torch.testing.assert_close(y, torch.full((2, 3), 2.0))


def test_each_node_runs_the_version_in_effect_at_its_opset(node_model: Any, ort_run: Any) -> None:
    """Softmax flattened everything from ``axis`` on before opset 13; from 13 it is one axis."""
    x = np.random.default_rng(0).normal(size=(2, 3, 4)).astype(np.float32)
    results = {}
    for opset in (11, 13):
        model = node_model("Softmax", [("x", x)], opset=opset, axis=1)
        (want,) = ort_run(model, {"x": x})
        got = OnnxTwin(model).run({"x": torch.from_numpy(x)})["y0"]
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-6, atol=1e-7)
        results[opset] = got
    np.testing.assert_allclose(results[11].sum(dim=(1, 2)).numpy(), 1.0, rtol=1e-6)
    np.testing.assert_allclose(results[13].sum(dim=1).numpy(), 1.0, rtol=1e-6)


def test_non_differentiable_nodes_name_the_cuts_between_float_inputs_and_outputs(
    graph_model: Any,
) -> None:
    model = graph_model(
        [
            helper.make_node("Relu", ["x"], ["r"], name="relu"),
            helper.make_node("ArgMax", ["r"], ["label"], name="argmax", axis=1),
            helper.make_node("Cast", ["r"], ["as_int"], name="to_int", to=TensorProto.INT64),
            helper.make_node("Cast", ["as_int"], ["back"], name="to_float", to=FLOAT),
            helper.make_node(
                "TreeEnsembleClassifier", ["x"], ["tl", "tp"], name="trees", domain="ai.onnx.ml"
            ),
            helper.make_node("Shape", ["x"], ["shape"], name="shape"),
            helper.make_node("Softmax", ["r"], ["soft"], name="softmax"),
            # Shape only feeds the shape input of the Reshape: the data path stays live.
            helper.make_node("Reshape", ["soft", "shape"], ["probabilities"], name="reshape"),
        ],
        [_x(2, 3)],
        ["label", "back", "tp", "probabilities"],
        opsets={"": 13, "ai.onnx.ml": 3},
    )
    assert non_differentiable_nodes(model, default_registry()) == [
        "'argmax' (ArgMax)",
        "'to_int' (Cast)",
        "'trees' (ai.onnx.ml::TreeEnsembleClassifier)",
    ]
    assert non_differentiable_nodes(model, outputs=["probabilities"]) == []
    assert non_differentiable_nodes(model, outputs=["back"]) == ["'to_int' (Cast)"]


def test_values_torch_cannot_hold_only_matter_when_an_output_needs_them(graph_model: Any) -> None:
    """skl2onnx maps an argmax to string class names; the probabilities stay usable."""
    names = np.array(["cat", "dog", "emu"], dtype=object)
    classes = onnx.numpy_helper.from_array(names, name="classes")
    model = graph_model(
        [
            helper.make_node("Softmax", ["x"], ["probabilities"], axis=1),
            helper.make_node("ArgMax", ["probabilities"], ["index"], axis=1, keepdims=0),
            helper.make_node(
                "ArrayFeatureExtractor", ["classes", "index"], ["label"], domain="ai.onnx.ml"
            ),
        ],
        [_x(2, 3)],
        ["label", "probabilities"],
        opsets={"": 13, "ai.onnx.ml": 1},
        initializers=[classes],
    )
    twin = OnnxTwin(model)
    out = twin.run({"x": torch.zeros(2, 3)}, outputs=["probabilities"])["probabilities"]
    torch.testing.assert_close(out, torch.full((2, 3), 1 / 3))
    with pytest.raises(UnsupportedModelError, match="classes"):
        twin.run({"x": torch.zeros(2, 3)})
    assert non_differentiable_nodes(model, outputs=["probabilities"]) == []


# --- Real exported models ----------------------------------------------------------------


class SmallCnn(torch.nn.Module):
    """Conv, BatchNorm (after ReLU, so exporters cannot fold it), MaxPool, Flatten, Linear,
    Softmax."""

    def __init__(self) -> None:
        super().__init__()
        self.features = torch.nn.Sequential(
            torch.nn.Conv2d(1, 4, 3, padding=1),
            torch.nn.ReLU(),
            torch.nn.BatchNorm2d(4),
            torch.nn.MaxPool2d(2),
            torch.nn.Conv2d(4, 6, 3),
            torch.nn.ReLU(),
            torch.nn.MaxPool2d(2, ceil_mode=True),
        )
        self.head = torch.nn.Linear(6 * 2 * 2, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.head(torch.flatten(self.features(x), 1)), dim=1)


@pytest.fixture(scope="module")
def small_cnn() -> SmallCnn:
    torch.manual_seed(0)
    module = SmallCnn()
    norm = module.features[2]
    norm.running_mean.uniform_(-0.5, 0.5)  # type: ignore[operator]
    norm.running_var.uniform_(0.5, 2.0)  # type: ignore[operator]
    return module.eval()


def _export(module: torch.nn.Module, dynamo: bool) -> onnx.ModelProto:
    example = torch.zeros(2, 1, 10, 10)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if dynamo:
            batch = torch.export.Dim("batch")
            program = torch.onnx.export(
                module,
                (example,),
                dynamo=True,
                verbose=False,
                input_names=["x"],
                dynamic_shapes=({0: batch},),
            )
            return program.model_proto  # type: ignore[union-attr]
        buffer = io.BytesIO()
        torch.onnx.export(
            module,
            (example,),
            buffer,
            dynamo=False,
            opset_version=13,
            input_names=["x"],
            output_names=["probabilities"],
            dynamic_axes={"x": {0: "batch"}},
            keep_initializers_as_inputs=True,
        )
        return onnx.load_from_string(buffer.getvalue())


@pytest.mark.parametrize("dynamo", [False, True], ids=["torchscript-opset13", "dynamo"])
def test_exported_cnn_matches_onnxruntime_and_torch_gradients(
    small_cnn: SmallCnn, dynamo: bool, ort_run: Any
) -> None:
    model = _export(small_cnn, dynamo)
    assert "BatchNormalization" in {node.op_type for node in model.graph.node}
    x = torch.rand(5, 1, 10, 10)
    weights = torch.rand(5, 10)
    twin = OnnxTwin(model)
    (name,) = twin.output_names
    (expected,) = ort_run(model, {twin.input_names[0]: x.numpy()})

    twin_x = x.clone().requires_grad_()
    twin_out = twin.run({twin.input_names[0]: twin_x})[name]
    np.testing.assert_allclose(twin_out.detach().numpy(), expected, rtol=1e-5, atol=1e-5)
    (twin_out * weights).sum().backward()

    torch_x = x.clone().requires_grad_()
    (small_cnn(torch_x) * weights).sum().backward()
    assert twin_x.grad is not None and torch_x.grad is not None
    torch.testing.assert_close(twin_x.grad, torch_x.grad, rtol=1e-4, atol=1e-4)
    assert non_differentiable_nodes(model, default_registry()) == []


@pytest.fixture(scope="module")
def sklearn_digits() -> tuple[dict[str, Any], np.ndarray]:
    """Both classifiers fitted once on digits, and held-out inputs to score."""
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # short fits do not converge, and need not
        fitted = {
            "logistic_regression": LogisticRegression(max_iter=200).fit(x[:1200], y[:1200]),
            "mlp": MLPClassifier((16,), max_iter=30, random_state=0).fit(x[:1200], y[:1200]),
        }
    return fitted, x[1200:]


@pytest.mark.parametrize("zipmap", [False, True], ids=["no-zipmap", "zipmap"])
@pytest.mark.parametrize("name", ["logistic_regression", "mlp"])
def test_sklearn_classifiers_match_onnxruntime(
    sklearn_digits: tuple[dict[str, Any], np.ndarray], name: str, zipmap: bool, ort_run: Any
) -> None:
    """LogisticRegression (LinearClassifier, Normalizer, ZipMap) and an MLP (MatMul, ...,
    with ArgMax and ArrayFeatureExtractor for the label)."""
    from skl2onnx import to_onnx

    fitted, x = sklearn_digits
    classifier = fitted[name]
    model = to_onnx(classifier, x[:1], options={id(classifier): {"zipmap": zipmap}})
    label_name, probability_name = (output.name for output in model.graph.output)
    want_label, want_probabilities = ort_run(model, {"X": x})
    if zipmap:
        want_probabilities = np.array([[row[c] for c in range(10)] for row in want_probabilities])
    twin = OnnxTwin(model)
    x_tensor = torch.from_numpy(x).requires_grad_()
    outputs = twin.run({"X": x_tensor})
    np.testing.assert_allclose(
        outputs[probability_name].detach().numpy(), want_probabilities, rtol=1e-5, atol=1e-5
    )
    np.testing.assert_array_equal(outputs[label_name].numpy(), want_label)
    outputs[probability_name][:, 3].sum().backward()
    assert x_tensor.grad is not None and x_tensor.grad.abs().sum() > 0
    assert non_differentiable_nodes(model, outputs=[probability_name]) == []
