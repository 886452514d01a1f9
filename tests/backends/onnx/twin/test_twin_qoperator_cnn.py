"""A residual CNN with a concatenation and global average pooling, quantized by
``quantize_static`` in the QOperator format, through the gradient twin.

onnxruntime turns the Add, Concat and GlobalAveragePool into its ``com.microsoft``
QLinearAdd, QLinearConcat and QLinearGlobalAveragePool (asserted, so the test proves what it
claims); the twin must give onnxruntime's scores exactly, a non-zero gradient, and a scan whose
FGSM beats the noise baseline. A second model with sigmoid and leaky-ReLU activations and a
softmax output covers the activations quantize_static quantizes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, quantize_static

from robustcheck.backends.onnx.runtime import create_session
from robustcheck.backends.onnx.twin import OnnxTwin, non_differentiable_nodes
from robustcheck.cli import main
from robustcheck.datasets import load_digits

N_COMPARED = 200
BATCH = 50


class _Residual(torch.nn.Module):
    def __init__(self, activation: str) -> None:
        super().__init__()
        self.stem = torch.nn.Conv2d(1, 16, 3, padding=1)
        self.body = torch.nn.Conv2d(16, 16, 3, padding=1)
        self.side = torch.nn.Conv2d(1, 8, 3, stride=2, padding=1)
        self.mix = torch.nn.Conv2d(24, 32, 3, padding=1)
        self.head = torch.nn.Linear(32, 10)
        self.act: torch.nn.Module = (
            torch.nn.ReLU() if activation == "relu" else torch.nn.LeakyReLU(0.1)
        )
        self.gate = activation != "relu"
        self.softmax = activation != "relu"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        stem = self.act(self.stem(x))
        residual = torch.nn.functional.max_pool2d(stem + self.body(stem), 2)
        side = self.side(x)
        side = torch.sigmoid(side) if self.gate else torch.relu(side)
        joined = self.act(self.mix(torch.cat([residual, side], dim=1)))
        scores = self.head(torch.flatten(torch.nn.functional.adaptive_avg_pool2d(joined, 1), 1))
        return torch.softmax(scores, dim=1) if self.softmax else scores


class _Calibration(CalibrationDataReader):
    def __init__(self, x: np.ndarray) -> None:
        self._batches: Iterator[dict[str, np.ndarray]] = iter(
            {"input": x[i : i + 16]} for i in range(0, len(x), 16)
        )

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._batches, None)


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    data = load_digits()
    x = (np.asarray(data.images, dtype=np.float32) / 16.0)[:, None]
    return x, np.asarray(data.target, dtype=np.int64)


def _trained(activation: str, x: np.ndarray, y: np.ndarray) -> torch.nn.Module:
    torch.manual_seed(0)
    module = _Residual(activation)
    optimizer = torch.optim.Adam(module.parameters(), lr=1e-2)
    inputs, labels = torch.from_numpy(x[:1200]), torch.from_numpy(y[:1200])
    for _ in range(100):
        batch = torch.randint(0, len(inputs), (128,))
        scores = module(inputs[batch])
        if module.softmax:
            loss = torch.nn.functional.nll_loss(torch.log(scores + 1e-9), labels[batch])
        else:
            loss = torch.nn.functional.cross_entropy(scores, labels[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return module.eval()


@pytest.fixture(scope="module")
def models(digits, tmp_path_factory) -> dict[tuple[str, bool], Path]:
    x, y = digits
    directory = tmp_path_factory.mktemp("qoperator")
    paths = {}
    for activation in ("relu", "sigmoid"):
        source = directory / f"{activation}.onnx"
        torch.onnx.export(
            _trained(activation, x, y),
            (torch.from_numpy(x[:2]),),
            str(source),
            input_names=["input"],
            output_names=["scores"],
            dynamic_axes={"input": {0: "n"}, "scores": {0: "n"}},
            dynamo=False,
        )
        for per_channel in (False, True):
            target = directory / f"{activation}-{int(per_channel)}.onnx"
            quantize_static(
                str(source),
                str(target),
                _Calibration(x[1200:1264]),
                quant_format=QuantFormat.QOperator,
                per_channel=per_channel,
            )
            paths[(activation, per_channel)] = target
    return paths


def _op_types(model: onnx.ModelProto) -> set[str]:
    return {node.op_type for node in model.graph.node}


def _twin_scores(twin: OnnxTwin, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scores, gradients = [], []
    for start in range(0, len(x), BATCH):
        inputs = torch.from_numpy(x[start : start + BATCH]).requires_grad_(True)
        out = twin.run({"input": inputs})["scores"]
        (gradient,) = torch.autograd.grad(out.max(1).values.sum(), inputs)
        scores.append(out.detach().numpy())
        gradients.append(gradient.flatten(1).numpy())
    return np.concatenate(scores), np.concatenate(gradients)


@pytest.mark.parametrize(
    ("activation", "expected_ops"),
    [
        ("relu", {"QLinearAdd", "QLinearConcat", "QLinearGlobalAveragePool"}),
        ("sigmoid", {"QLinearAdd", "QLinearConcat", "QLinearGlobalAveragePool",
                     "QLinearSigmoid", "QLinearLeakyRelu", "QLinearSoftmax"}),
    ],
)  # fmt: skip
@pytest.mark.parametrize("per_channel", [False, True], ids=["per-tensor", "per-channel"])
def test_twin_scores_equal_onnxruntimes(digits, models, activation, expected_ops, per_channel):
    x, _ = digits
    model = onnx.load(models[(activation, per_channel)])
    assert expected_ops <= _op_types(model), _op_types(model)
    assert non_differentiable_nodes(model) == []
    session = create_session(model.SerializeToString(), "quantized", ["CPUExecutionProvider"], 1)
    sample = x[1500 : 1500 + N_COMPARED]
    deployed = np.concatenate(
        [
            session.run(None, {"input": sample[i : i + BATCH]})[0]
            for i in range(0, N_COMPARED, BATCH)
        ]  # type: ignore[attr-defined]
    )
    scores, gradients = _twin_scores(OnnxTwin(model), sample)
    np.testing.assert_array_equal(scores, deployed)
    assert (scores.argmax(1) == deployed.argmax(1)).all()
    assert (np.abs(gradients).sum(1) > 0).mean() >= 0.9


def test_scan_attacks_the_quantized_residual_cnn(digits, models, tmp_path):
    x, y = digits
    data = tmp_path / "digits.npz"
    np.savez(data, x=x[1500:1700], y=y[1500:1700])
    report = tmp_path / "report.json"
    code = main(
        ["scan", str(models[("relu", True)]), "--data", str(data), "--eps", "0.1", "--json",
         str(report), "--no-gap-probe", "--no-isolation"]
    )  # fmt: skip
    assert code in (0, 1), code
    parsed = json.loads(report.read_text())
    rates = {r["attack"]: r["adversarial_error_rate"] for r in parsed["results"]}
    assert parsed["fidelity"]["trusted"]
    assert rates["fgsm"] > rates["noise"] + 0.1, rates
