"""A transformer classifier fused by onnxruntime's transformer optimizer scans with gradient
attacks: the fused graph's ``com.microsoft`` operators (SkipLayerNormalization, BiasGelu) run in
the gradient twin, and FGSM beats random noise."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from robustcheck.backends.onnx.twin import OnnxTwin
from robustcheck.cli import main
from robustcheck.datasets import load_digits

optimizer = pytest.importorskip("onnxruntime.transformers.optimizer")
# The TorchScript exporter warns about every shape check in nn.MultiheadAttention.
pytestmark = pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")

HIDDEN, HEADS = 32, 4


class DigitRowsEncoder(torch.nn.Module):
    """Each image row is a token of 8 features: Linear, one GELU encoder layer, mean pool."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = torch.nn.Linear(8, HIDDEN)
        self.encoder = torch.nn.TransformerEncoderLayer(
            HIDDEN, HEADS, 2 * HIDDEN, dropout=0.0, activation="gelu", batch_first=True
        )
        self.head = torch.nn.Linear(HIDDEN, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(self.embed(x)).mean(dim=1))


@pytest.fixture(scope="module")
def fused_transformer(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    torch.manual_seed(0)
    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    train_x, train_y = torch.from_numpy(x[:1500]), torch.from_numpy(y[:1500])
    net = DigitRowsEncoder()
    adam = torch.optim.Adam(net.parameters(), lr=5e-3)
    for _ in range(100):
        batch = torch.randint(0, 1500, (128,))
        loss = torch.nn.functional.cross_entropy(net(train_x[batch]), train_y[batch])
        adam.zero_grad()
        loss.backward()
        adam.step()
    net.eval()
    folder = tmp_path_factory.mktemp("transformer")
    raw, fused = folder / "raw.onnx", folder / "fused.onnx"
    torch.onnx.export(
        net,
        (train_x[:2],),
        str(raw),
        dynamo=False,
        opset_version=17,
        input_names=["x"],
        output_names=["logits"],
        dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}},
    )
    model = optimizer.optimize_model(
        str(raw), model_type="bert", num_heads=HEADS, hidden_size=HIDDEN
    )
    model.save_model_to_file(str(fused))
    data = folder / "digits_rows.npz"
    np.savez(data, x=x[1500:1700], y=y[1500:1700])
    return fused, data


def test_the_optimizer_fuses_contrib_operators_the_twin_runs(
    fused_transformer: tuple[Path, Path], ort_run: object
) -> None:
    path, data = fused_transformer
    model = onnx.load(path)
    contrib = {node.op_type for node in model.graph.node if node.domain == "com.microsoft"}
    assert "SkipLayerNormalization" in contrib, contrib
    x = np.load(data)["x"][:16]
    (want,) = ort_run(model, {"x": x})  # type: ignore[operator]
    with torch.no_grad():
        got = OnnxTwin(model).run({"x": torch.from_numpy(x)})["logits"]
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-4, atol=1e-4)


def test_the_fused_transformer_scans_and_fgsm_beats_noise(
    fused_transformer: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, data = fused_transformer
    report = tmp_path / "report.json"
    argv = ["scan", str(path), "--data", str(data), "--eps", "0.1", "--json", str(report)]
    code = main([*argv, "--no-gap-probe", "--no-isolation"])
    capsys.readouterr()
    assert code in (0, 1)
    errors = {
        r["attack"]: r["adversarial_errors"] for r in json.loads(report.read_text())["results"]
    }
    assert errors["fgsm"] > errors["noise"] + 10, errors
