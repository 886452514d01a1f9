"""LSTM, GRU and RNN through the gradient twin: torch-exported models against onnxruntime and
torch autograd, hand-built nodes (sequence lengths, directions, layouts) against onnxruntime,
and a scan of a small digits LSTM through the CLI."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
import torch
from torch import nn

from robustcheck.backends.onnx.twin import OnnxTwin
from robustcheck.backends.onnx.twin.graph import TwinNodeError
from robustcheck.backends.onnx.twin.tensors import tensor_from_numpy, tensor_to_numpy

INPUT, HIDDEN, CLASSES, STEPS = 4, 5, 3, 6


class SequenceClassifier(nn.Module):
    """A recurrent layer read at its last step, then a linear head (the usual classifier)."""

    def __init__(self, layer: nn.RNNBase, classes: int = CLASSES) -> None:
        super().__init__()
        self.layer = layer
        directions = 2 if layer.bidirectional else 1
        self.head = nn.Linear(layer.hidden_size * directions, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y, _ = self.layer(x)
        last = y[:, -1] if self.layer.batch_first else y[-1]
        return self.head(last)


# fmt: off
LAYERS: dict[str, Any] = {
    "lstm": lambda: nn.LSTM(INPUT, HIDDEN),
    "lstm-2-layers-batch-first": lambda: nn.LSTM(INPUT, HIDDEN, num_layers=2, batch_first=True),
    "lstm-bidirectional": lambda: nn.LSTM(INPUT, HIDDEN, bidirectional=True),
    "lstm-bidirectional-2-layers-batch-first": lambda: nn.LSTM(INPUT, HIDDEN, num_layers=2, bidirectional=True, batch_first=True),
    "gru": lambda: nn.GRU(INPUT, HIDDEN),
    "gru-batch-first": lambda: nn.GRU(INPUT, HIDDEN, batch_first=True),
    "rnn-tanh": lambda: nn.RNN(INPUT, HIDDEN),
    "rnn-relu-batch-first": lambda: nn.RNN(INPUT, HIDDEN, nonlinearity="relu", batch_first=True),
}
# fmt: on


def _export(module: nn.Module, example: torch.Tensor, batch_dim: int, path: Path) -> Path:
    with warnings.catch_warnings():
        # The TorchScript-based exporter is deprecated; it is still what most models used.
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            (example,),
            str(path),
            input_names=["x"],
            output_names=["logits"],
            dynamic_axes={"x": {batch_dim: "n"}, "logits": {0: "n"}},
            dynamo=False,
        )
    return path


def _sequences(batch: int, batch_first: bool, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    shape = (batch, STEPS, INPUT) if batch_first else (STEPS, batch, INPUT)
    return torch.randn(shape, generator=generator)


@pytest.mark.parametrize("name", list(LAYERS))
def test_exported_layer_matches_onnxruntime_and_torch_gradients(
    name: str, tmp_path: Path, ort_run: Any
) -> None:
    torch.manual_seed(0)
    module = SequenceClassifier(LAYERS[name]()).eval()
    batch_first = module.layer.batch_first
    path = _export(
        module, _sequences(2, batch_first, 1), 0 if batch_first else 1, tmp_path / "m.onnx"
    )
    model = onnx.load(path)
    x = _sequences(7, batch_first, 2)  # another batch size than the export's

    expected = ort_run(model, {"x": x.numpy()})[0]
    twin = OnnxTwin(model)
    with torch.no_grad():
        got = tensor_to_numpy(twin.run({"x": x})["logits"])
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)

    weights = torch.randn(7, CLASSES, dtype=torch.float64)
    x64 = x.double().requires_grad_()
    (twin.to(torch.float64).run({"x": x64})["logits"] * weights).sum().backward()
    reference = x.double().requires_grad_()
    (module.double()(reference) * weights).sum().backward()
    assert x64.grad is not None and reference.grad is not None
    torch.testing.assert_close(x64.grad, reference.grad, rtol=1e-9, atol=1e-12)


def _floats(*shape: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}
SEQ, BATCH, FEATURES, UNITS = 5, 4, 3, 2

# (op_type, direction, layout, sequence lengths or None, extra attributes)
# fmt: off
NODE_CASES: list[tuple[str, str, int, list[int] | None, dict[str, Any]]] = [
    ("LSTM", "forward", 0, [5, 3, 1, 4], {}),
    ("LSTM", "reverse", 0, [2, 5, 3, 1], {"clip": 0.4}),
    ("LSTM", "bidirectional", 0, [5, 0, 3, 1], {"input_forget": 1}),
    ("LSTM", "bidirectional", 1, [4, 2, 5, 3], {"activations": ["HardSigmoid", "ScaledTanh", "Affine", "Sigmoid", "LeakyRelu", "Softsign"], "activation_alpha": [0.3, 0.8, 0.6, 0.05], "activation_beta": [0.4, 1.2, 0.1]}),
    ("GRU", "reverse", 0, [5, 3, 1, 4], {"linear_before_reset": 1}),
    ("GRU", "bidirectional", 0, [3, 5, 2, 1], {"clip": 0.5}),
    ("GRU", "forward", 1, [1, 2, 5, 4], {"activations": ["HardSigmoid", "Elu"], "activation_alpha": [0.3, 0.9], "activation_beta": [0.4]}),
    ("RNN", "forward", 0, [5, 3, 1, 4], {"activations": ["Softplus"]}),
    ("RNN", "reverse", 1, [2, 5, 3, 1], {"activations": ["ThresholdedRelu"], "activation_alpha": [0.1]}),
    ("RNN", "bidirectional", 0, None, {"activations": ["Tanh", "Sigmoid"]}),
]
# fmt: on


def _node_inputs(op_type: str, directions: int, layout: int, lengths: list[int] | None) -> list:
    width = GATES[op_type] * UNITS
    batch_major = layout == 1
    x = _floats(*((BATCH, SEQ) if batch_major else (SEQ, BATCH)), FEATURES, seed=1)
    state = (BATCH, directions, UNITS) if batch_major else (directions, BATCH, UNITS)
    inputs = [
        ("x", x),
        ("w", _floats(directions, width, FEATURES, seed=2)),
        ("r", _floats(directions, width, UNITS, seed=3)),
        ("b", _floats(directions, 2 * width, seed=4)),
        ("lens", np.array(lengths, dtype=np.int32)) if lengths else ("", None),
        ("h0", _floats(*state, seed=5)),
    ]
    if op_type == "LSTM":
        inputs += [("c0", _floats(*state, seed=6)), ("p", _floats(directions, 3 * UNITS, seed=7))]
    return inputs


def _sequence_major(inputs: list) -> list:
    """The same inputs with batch and sequence (or direction) axes swapped back to layout 0."""
    swapped = {"x", "h0", "c0"}
    return [(n, v.swapaxes(0, 1).copy() if n in swapped else v) for n, v in inputs]


def _case_id(case: tuple) -> str:
    op_type, direction, layout, lengths, _ = case
    return f"{op_type}-{direction}-layout{layout}" + ("-lens" if lengths else "")


@pytest.mark.parametrize("case", NODE_CASES, ids=[_case_id(c) for c in NODE_CASES])
def test_node_matches_onnxruntime(case: tuple, node_model: Any, ort_run: Any) -> None:
    """onnxruntime refuses ``layout=1`` for these operators, so a batch-major node is
    checked against the runtime on the sequence-major node with transposed tensors."""
    op_type, direction, layout, lengths, attributes = case
    directions = 2 if direction == "bidirectional" else 1
    outputs = 3 if op_type == "LSTM" else 2
    inputs = _node_inputs(op_type, directions, layout, lengths)
    common = {"direction": direction, "hidden_size": UNITS, **attributes}
    model = node_model(op_type, inputs, opset=14, outputs=outputs, layout=layout, **common)
    judged = _sequence_major(inputs) if layout else inputs
    judge = node_model(op_type, judged, opset=14, outputs=outputs, **common)
    expected = ort_run(judge, {n: v for n, v in judged if n})
    if layout:
        expected = [expected[0].transpose(2, 0, 1, 3)] + [s.swapaxes(0, 1) for s in expected[1:]]

    twin = OnnxTwin(model)
    with torch.no_grad():
        got = twin.run({n: tensor_from_numpy(v) for n, v in inputs if n})
    for name, want in zip(twin.output_names, expected, strict=True):
        np.testing.assert_allclose(tensor_to_numpy(got[name]), want, rtol=1e-5, atol=1e-5)


def test_unused_outputs_and_float64_keep_their_dtype(node_model: Any) -> None:
    inputs = _node_inputs("LSTM", 1, 0, None)
    model = node_model("LSTM", inputs, opset=14, outputs=3, hidden_size=UNITS)
    model.graph.node[0].output[0] = ""  # Y unused, as the official cases leave it
    twin = OnnxTwin(model).to(torch.float64)
    got = twin.run({n: tensor_from_numpy(v).double() for n, v in inputs if n}, outputs=["y1"])
    assert got["y1"].dtype == torch.float64 and got["y1"].shape == (1, BATCH, UNITS)


def _digits_lstm(tmp_path: Path) -> tuple[Path, Path]:
    """An LSTM that reads each 8x8 digit as 8 steps of 8 pixels, trained briefly, exported."""
    from robustcheck.datasets import load_digits

    digits = load_digits()
    x = torch.from_numpy(digits.images[:300].astype(np.float32) / 16.0)
    y = torch.from_numpy(digits.target[:300])
    torch.manual_seed(0)
    module = SequenceClassifier(nn.LSTM(8, 16, batch_first=True), classes=10)
    optimizer = torch.optim.Adam(module.parameters(), lr=0.03)
    for _ in range(100):
        optimizer.zero_grad()
        nn.functional.cross_entropy(module(x), y).backward()
        optimizer.step()
    module.eval()
    model = _export(module, x[:2], 0, tmp_path / "digits_lstm.onnx")
    data = tmp_path / "digits.npz"
    np.savez(data, x=x[:100].numpy(), y=y[:100].numpy())
    return model, data


def test_scan_of_a_digits_lstm_beats_noise_with_a_trusted_twin(
    tmp_path: Path, scan_checked: Any
) -> None:

    model, data = _digits_lstm(tmp_path)
    fidelity = scan_checked(model, data, tmp_path / "report.json")["fidelity"]
    assert fidelity["clean_top1_agreement"] == 1.0, fidelity
    assert fidelity["adversarial_top1_agreement"] >= 0.99, fidelity


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        ({"activations": ["Gelu", "Tanh"]}, "activation 'Gelu' is not an ONNX activation"),
        ({"activations": ["Sigmoid"]}, "lists 1 activation"),
        ({"direction": "sideways"}, "direction 'sideways' is not forward"),
        ({"layout": 2}, "layout=2 is not 0 or 1"),
        ({"hidden_size": 3}, "hidden_size=3 disagrees with R's shape"),
    ],
)
def test_malformed_nodes_are_refused_naming_the_attribute(
    attributes: dict[str, Any], message: str, node_model: Any
) -> None:
    inputs = _node_inputs("GRU", 1, 0, None)
    model = node_model("GRU", inputs, opset=14, outputs=2, **{"hidden_size": UNITS, **attributes})
    with pytest.raises(TwinNodeError, match=message):
        OnnxTwin(model).run({n: tensor_from_numpy(v) for n, v in inputs if n})
