"""A binary classifier with one output column (a logit or a probability) scans as two classes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from robustcheck.backends.output import OutputKind, detect_output_kind, to_probabilities
from robustcheck.engine.binary import BinaryBackend
from robustcheck.engine.config import ScanConfig
from robustcheck.engine.runner import run

EPS = [0.2, 0.4]


class Binary(torch.nn.Module):
    """Digit 1 vs digit 0: one logit, or its sigmoid."""

    def __init__(self, sigmoid: bool) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(64, 1)
        self.sigmoid = sigmoid

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.linear(x.reshape(x.shape[0], -1))
        return torch.sigmoid(z) if self.sigmoid else z


@pytest.fixture(scope="module")
def zero_one(digits, tmp_path_factory) -> tuple[np.ndarray, np.ndarray, Path]:
    keep = digits.y_test <= 1
    x, y = digits.x_test[keep], digits.y_test[keep]
    path = tmp_path_factory.mktemp("binary") / "zero_one.npz"
    np.savez(path, x=x, y=y)
    return x, y, path


@pytest.fixture(scope="module")
def trained(digits) -> torch.nn.Linear:
    keep = digits.y_train <= 1
    x = torch.from_numpy(digits.x_train[keep]).reshape(-1, 64)
    y = torch.from_numpy(digits.y_train[keep]).double().reshape(-1, 1)
    torch.manual_seed(0)
    linear = torch.nn.Linear(64, 1)
    opt = torch.optim.Adam(linear.parameters(), lr=0.05)
    for _ in range(100):
        opt.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(linear(x).double(), y)
        loss.backward()
        opt.step()
    return linear.eval()


def _module(linear: torch.nn.Linear, sigmoid: bool) -> Binary:
    module = Binary(sigmoid)
    module.linear.load_state_dict(linear.state_dict())
    return module.eval()


def _onnx(linear: torch.nn.Linear, sigmoid: bool, path: Path) -> Path:
    weights = linear.weight.detach().numpy().T.astype(np.float32)
    bias = linear.bias.detach().numpy().astype(np.float32)
    nodes = [
        helper.make_node("Flatten", ["x"], ["flat"]),
        helper.make_node("Gemm", ["flat", "W", "B"], ["z"]),
        helper.make_node("Sigmoid" if sigmoid else "Identity", ["z"], ["score"]),
    ]
    graph = helper.make_graph(
        nodes,
        "binary",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 8, 8])],
        [helper.make_tensor_value_info("score", TensorProto.FLOAT, ["N", 1])],
        initializer=[numpy_helper.from_array(weights, "W"), numpy_helper.from_array(bias, "B")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=10)
    onnx.save(model, str(path))
    return path


def _reference_errors(module: Binary, x: np.ndarray, y: np.ndarray, eps: float) -> int:
    """Plain-torch FGSM on the binary cross-entropy of the logit."""
    xt = torch.from_numpy(x).requires_grad_(True)
    z = module.linear(xt.reshape(xt.shape[0], -1)).double()[:, 0]
    loss = torch.nn.functional.binary_cross_entropy_with_logits(
        z, torch.from_numpy(y).double(), reduction="sum"
    )
    (grad,) = torch.autograd.grad(loss, xt)
    adv = np.clip(x + eps * np.sign(grad.numpy()), 0, 1).astype(np.float32)
    with torch.no_grad():
        pred = (module.linear(torch.from_numpy(adv).reshape(-1, 64))[:, 0] > 0).numpy()
    return int((pred.astype(np.int64) != y).sum())


@pytest.mark.parametrize("fmt", ["torchscript", "onnx"])
@pytest.mark.parametrize("sigmoid", [False, True], ids=["logit", "probability"])
def test_single_column_scans_as_two_classes(trained, zero_one, tmp_path, fmt, sigmoid):
    x, y, data = zero_one
    module = _module(trained, sigmoid)
    if fmt == "onnx":
        path = _onnx(trained, sigmoid, tmp_path / "binary.onnx")
    else:
        path = tmp_path / "binary.pt"
        torch.jit.save(torch.jit.trace(module, torch.from_numpy(x[:2])), str(path))
    report = run(ScanConfig(model=path, data=data, eps=EPS, batch_size=64))
    assert report.model.n_classes == 2
    assert report.model.output_kind == ("probabilities" if sigmoid else "logits")
    assert report.fidelity.trusted
    assert any("single output column" in w for w in report.warnings)
    for eps in EPS:
        (result,) = [r for r in report.results if r.attack == "fgsm" and r.eps == eps]
        assert abs(result.adversarial_errors - _reference_errors(module, x, y, eps)) <= 1
        assert result.adversarial_errors > 0


def test_single_column_conventions():
    class Column:
        info = None
        device = torch.device("cpu")

        def __init__(self, values: list[float]) -> None:
            self.values = torch.tensor(values, dtype=torch.float64).reshape(-1, 1)

        def scores(self, x: torch.Tensor) -> torch.Tensor:
            return self.values

    z = [0.0, 2.0, -50.0, 800.0]
    logits = BinaryBackend(Column(z), None).scores(torch.zeros(4))  # type: ignore[arg-type]
    probs = to_probabilities(logits.numpy(), detect_output_kind(logits.numpy()))
    np.testing.assert_allclose(probs[:, 1], 1 / (1 + np.exp(-np.array(z))))
    p = [0.0, 0.25, 1.0]
    backend = BinaryBackend(Column(p), None)  # type: ignore[arg-type]
    two = backend.scores(torch.zeros(3)).numpy()
    assert detect_output_kind(two) is OutputKind.PROBABILITIES
    np.testing.assert_allclose(two, [[1, 0], [0.75, 0.25], [0, 1]])
    assert backend.reading is OutputKind.PROBABILITIES
    declared = BinaryBackend(Column(p), OutputKind.LOGITS)  # type: ignore[arg-type]
    assert detect_output_kind(declared.scores(torch.zeros(3)).numpy()) is OutputKind.LOGITS
