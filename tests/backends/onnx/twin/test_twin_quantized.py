"""Quantized classifiers as onnxruntime's own tools make them, through the gradient twin.

A CNN and an MLP trained on digits are quantized with ``onnxruntime.quantization``:
``quantize_static`` in the QDQ and QOperator formats (per tensor and per channel) and
``quantize_dynamic`` (DynamicQuantizeLinear + MatMulInteger). The twin must compute what
onnxruntime computes (its integer arithmetic is reproduced exactly, so the logits are compared
to 1e-5 relative: a single rounding flip would move a logit by a whole quantization step,
~1e-2) and give a straight-through gradient that is non-zero and points where the float
model's does.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnxruntime.quantization import (
    CalibrationDataReader,
    QuantFormat,
    quantize_dynamic,
    quantize_static,
)

from robustcheck.backends.onnx.runtime import create_session
from robustcheck.backends.onnx.twin import OnnxTwin, non_differentiable_nodes
from robustcheck.cli import main
from robustcheck.datasets import load_digits

CALIBRATION_BATCH = 16
BATCH = 50  # not the calibration batch: nothing may depend on the batch size
N_COMPARED = 200

VARIANTS = [
    *(
        (model, fmt, per_channel)
        for model in ("cnn", "mlp")
        for fmt in ("QDQ", "QOperator")
        for per_channel in (False, True)
    ),
    ("mlp", "dynamic", False),
]


def _variant_id(variant: tuple[str, str, bool]) -> str:
    model, fmt, per_channel = variant
    return f"{model}-{fmt}" + ("-per-channel" if per_channel else "")


class _Calibration(CalibrationDataReader):
    def __init__(self, x: np.ndarray) -> None:
        self._batches: Iterator[dict[str, np.ndarray]] = iter(
            {"input": x[i : i + CALIBRATION_BATCH]} for i in range(0, len(x), CALIBRATION_BATCH)
        )

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._batches, None)


def _module(kind: str) -> torch.nn.Module:
    if kind == "cnn":
        return torch.nn.Sequential(
            torch.nn.Conv2d(1, 8, 3, padding=1),
            torch.nn.ReLU(),
            torch.nn.MaxPool2d(2),
            torch.nn.Conv2d(8, 16, 3, padding=1),
            torch.nn.ReLU(),
            torch.nn.MaxPool2d(2),
            torch.nn.Flatten(),
            torch.nn.Linear(16 * 2 * 2, 10),
        )
    return torch.nn.Sequential(
        torch.nn.Flatten(), torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10)
    )


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    data = load_digits()
    x = (np.asarray(data.images, dtype=np.float32) / 16.0)[:, None]
    return x, np.asarray(data.target, dtype=np.int64)


@pytest.fixture(scope="module")
def float_models(digits, tmp_path_factory) -> dict[str, Path]:
    x, y = digits
    directory = tmp_path_factory.mktemp("quantized")
    paths = {}
    for kind in ("cnn", "mlp"):
        torch.manual_seed(0)
        module = _module(kind)
        optimizer = torch.optim.Adam(module.parameters(), lr=1e-2)
        inputs, labels = torch.from_numpy(x[:1200]), torch.from_numpy(y[:1200])
        for _ in range(100):
            batch = torch.randint(0, len(inputs), (128,))
            loss = torch.nn.functional.cross_entropy(module(inputs[batch]), labels[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        module.eval()
        paths[kind] = directory / f"{kind}.onnx"
        torch.onnx.export(
            module,
            (inputs[:2],),
            str(paths[kind]),
            input_names=["input"],
            output_names=["logits"],
            dynamic_axes={"input": {0: "n"}, "logits": {0: "n"}},
            dynamo=False,
        )
    return paths


def _quantize(source: Path, fmt: str, per_channel: bool, calibration: np.ndarray) -> Path:
    target = source.with_name(f"{source.stem}-{fmt}-{int(per_channel)}.onnx")
    if fmt == "dynamic":
        quantize_dynamic(str(source), str(target))
    else:
        quantize_static(
            str(source),
            str(target),
            _Calibration(calibration),
            quant_format=QuantFormat.QDQ if fmt == "QDQ" else QuantFormat.QOperator,
            per_channel=per_channel,
        )
    return target


@pytest.fixture(scope="module")
def quantized(digits, float_models) -> dict[tuple[str, str, bool], Path]:
    x, _ = digits
    return {
        variant: _quantize(float_models[variant[0]], variant[1], variant[2], x[1200:1264])
        for variant in VARIANTS
    }


def _input_gradients(twin: OnnxTwin, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, ...]:
    logits, gradients = [], []
    for start in range(0, len(x), BATCH):
        inputs = torch.from_numpy(x[start : start + BATCH]).requires_grad_(True)
        scores = twin.run({"input": inputs})["logits"]
        loss = torch.nn.functional.cross_entropy(
            scores, torch.from_numpy(y[start : start + BATCH]), reduction="sum"
        )
        (gradient,) = torch.autograd.grad(loss, inputs)
        logits.append(scores.detach().numpy())
        gradients.append(gradient.flatten(1).numpy())
    return np.concatenate(logits), np.concatenate(gradients)


@pytest.mark.parametrize("variant", VARIANTS, ids=[_variant_id(v) for v in VARIANTS])
def test_twin_computes_what_onnxruntime_computes_with_a_gradient(
    variant, digits, float_models, quantized
):
    x, y = digits
    model = onnx.load(quantized[variant])
    assert non_differentiable_nodes(model) == []
    twin = OnnxTwin(model)
    assert twin.straight_through_nodes > 0
    sample, labels = x[1500 : 1500 + N_COMPARED], y[1500 : 1500 + N_COMPARED]
    session = create_session(model.SerializeToString(), "quantized", ["CPUExecutionProvider"], 1)
    deployed = np.concatenate(
        [
            session.run(None, {"input": sample[i : i + BATCH]})[0]
            for i in range(0, N_COMPARED, BATCH)
        ]  # type: ignore[attr-defined]
    )
    logits, gradients = _input_gradients(twin, sample, labels)
    np.testing.assert_allclose(logits, deployed, rtol=1e-5, atol=1e-5 * np.abs(deployed).max())
    assert (logits.argmax(1) == deployed.argmax(1)).mean() >= 0.99
    nonzero = np.abs(gradients).sum(1) > 0
    assert nonzero.mean() >= 0.9
    # Straight through: the gradient points where the float model's gradient points.
    float_twin = OnnxTwin(onnx.load(float_models[variant[0]]))
    _, float_gradients = _input_gradients(float_twin, sample, labels)
    cosine = np.sum(gradients * float_gradients, 1) / (
        np.linalg.norm(gradients, axis=1) * np.linalg.norm(float_gradients, axis=1) + 1e-30
    )
    assert np.median(cosine[nonzero]) > 0.5


def test_off_the_gradient_path_quantized_values_are_real_integers(quantized, digits):
    """Without a recorded gradient the twin computes with real integer tensors, and an integer
    graph output is returned in its declared type either way."""
    x, _ = digits
    model = onnx.load(quantized[("cnn", "QOperator", False)])
    quantizer = next(n for n in model.graph.node if n.op_type == "QuantizeLinear")
    zero_point = next(i for i in model.graph.initializer if i.name == quantizer.input[2])
    declared = onnx.helper.make_tensor_value_info(quantizer.output[0], zero_point.data_type, None)
    model.graph.output.append(declared)
    twin = OnnxTwin(model)
    inputs = torch.from_numpy(x[:4])
    with torch.no_grad():
        plain = twin.run({"input": inputs})[quantizer.output[0]]
    recorded = twin.run({"input": inputs.clone().requires_grad_(True)})[quantizer.output[0]]
    expected = onnx.helper.tensor_dtype_to_np_dtype(zero_point.data_type)
    assert plain.dtype == recorded.dtype == torch.from_numpy(np.zeros(1, expected)).dtype
    assert torch.equal(plain, recorded)


def test_scan_attacks_a_quantized_model_like_its_float_original(
    digits, float_models, quantized, tmp_path
):
    x, y = digits
    data = tmp_path / "digits.npz"
    np.savez(data, x=x[1500:1700], y=y[1500:1700])
    results = {}
    for name, path in (
        ("float", float_models["cnn"]),
        ("quantized", quantized[("cnn", "QDQ", True)]),
    ):
        report = tmp_path / f"{name}.json"
        code = main(
            ["scan", str(path), "--data", str(data), "--eps", "0.1", "--json", str(report),
             "--no-gap-probe", "--no-isolation"]
        )  # fmt: skip
        assert code in (0, 1), code
        parsed = json.loads(report.read_text())
        results[name] = {r["attack"]: r["adversarial_error_rate"] for r in parsed["results"]}
        if name == "quantized":
            assert any("straight through" in w for w in parsed["warnings"])
            assert parsed["fidelity"]["trusted"]
    quantized_rates, float_rates = results["quantized"], results["float"]
    assert quantized_rates["fgsm"] > quantized_rates["noise"] + 0.1
    assert abs(quantized_rates["fgsm"] - float_rates["fgsm"]) <= 0.05


def test_the_gradient_passes_straight_through_rounding_and_stops_where_it_saturates():
    h = onnx.helper
    scale = onnx.numpy_helper.from_array(np.array(0.1, dtype=np.float32), "s")
    zero_point = onnx.numpy_helper.from_array(np.array(10, dtype=np.uint8), "z")
    graph = h.make_graph(
        [
            h.make_node("QuantizeLinear", ["x", "s", "z"], ["q"]),
            h.make_node("DequantizeLinear", ["q", "s", "z"], ["y"]),
        ],
        "qdq",
        [h.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [None])],
        [h.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [None])],
        initializer=[scale, zero_point],
    )
    twin = OnnxTwin(h.make_model(graph, opset_imports=[h.make_opsetid("", 13)]))
    # uint8 with zero point 10 and scale 0.1 represents [-1.0, 24.5].
    x = torch.tensor([-3.0, -0.96, 0.04, 0.05, 0.15, 7.33, 30.0], requires_grad=True)
    y = twin.run({"x": x})["y"]
    (gradient,) = torch.autograd.grad(y.sum(), x)
    expected = torch.tensor([-1.0, -1.0, 0.0, 0.0, 0.2, 7.3, 24.5])  # half to even: 0.5 -> 0
    torch.testing.assert_close(y.detach(), expected)
    assert gradient.tolist() == [0.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0]
