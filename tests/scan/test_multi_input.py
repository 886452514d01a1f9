"""A two-input ONNX model (an image and an integer metadata vector), trained and exported here:
``--input image`` attacks the image; the metadata comes from the .npz, unchanged, to both the
runtime and the gradient twin."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

from robustcheck.cli import main
from robustcheck.scan.config import ScanConfig
from robustcheck.scan.runner import run

N = 150


class ImageAndMeta(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.image = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU())
        self.meta = nn.Linear(3, 32)
        self.head = nn.Linear(32, 10)

    def forward(self, image: torch.Tensor, meta: torch.Tensor) -> torch.Tensor:
        return self.head(self.image(image) + self.meta(meta.to(torch.float32)))


def _meta(y: np.ndarray, seed: int) -> np.ndarray:
    noise = np.random.default_rng(seed).integers(0, 3, size=len(y))
    return np.stack([y % 2, y // 5, noise], axis=1).astype(np.int64)


@pytest.fixture(scope="module")
def two_inputs(digits, tmp_path_factory):
    directory = tmp_path_factory.mktemp("multi")
    torch.manual_seed(0)
    module = ImageAndMeta()
    x, y = torch.from_numpy(digits.x_train), torch.from_numpy(digits.y_train)
    meta = torch.from_numpy(_meta(digits.y_train, 0))
    opt = torch.optim.Adam(module.parameters(), lr=0.01)
    for _ in range(150):
        opt.zero_grad()
        nn.functional.cross_entropy(module(x, meta), y).backward()
        opt.step()
    module.eval()
    path = directory / "two.onnx"
    example = (torch.from_numpy(digits.x_test[:2]), torch.from_numpy(_meta(digits.y_test[:2], 1)))
    torch.onnx.export(
        module, example, str(path), input_names=["image", "meta"], output_names=["scores"],
        dynamic_axes={"image": {0: "n"}, "meta": {0: "n"}, "scores": {0: "n"}}, dynamo=False,
    )  # fmt: skip
    data = directory / "data.npz"
    x_test, y_test = digits.x_test[:N], digits.y_test[:N]
    np.savez(data, x=x_test, y=y_test, meta=_meta(y_test, 1))
    return module, path, data


def _reference_fgsm_errors(module, data, eps):
    arrays = np.load(data)
    x = torch.from_numpy(arrays["x"]).requires_grad_(True)
    meta, y = torch.from_numpy(arrays["meta"]), torch.from_numpy(arrays["y"])
    nn.functional.cross_entropy(module(x, meta), y, reduction="sum").backward()
    adv = (x + eps * x.grad.sign()).clamp(0, 1).detach()
    with torch.no_grad():
        return int((module(adv, meta).argmax(1) != y).sum())


def test_the_attacked_input_is_named_and_the_others_pass_through(two_inputs):
    module, path, data = two_inputs
    report = run(
        ScanConfig(model=path, data=data, eps=[0.1, 0.2], input="image", attacks=["fgsm", "spsa"])
    )
    assert report.fidelity.paths == "onnx-twin-vs-onnxruntime" and report.fidelity.trusted
    errors = {(r.attack, r.eps): r.adversarial_errors for r in report.results}
    clean = report.results[0].clean_correct
    assert clean > 0.8 * N  # the metadata reaches the runtime: accuracy needs it
    for eps in (0.1, 0.2):
        assert abs(errors[("fgsm", eps)] - _reference_fgsm_errors(module, data, eps)) <= 1
        assert errors[("spsa", eps)] > errors[("noise", eps)]


def test_without_input_the_refusal_lists_the_inputs(two_inputs, capsys, tmp_path):
    _, path, data = two_inputs
    code = main(["scan", str(path), "--data", str(data), "--eps", "0.1"])
    err = capsys.readouterr().err
    assert code == 3 and len(err.strip().splitlines()) == 1
    assert "image: tensor(float)" in err and "meta: tensor(int64)" in err and "--input" in err
    # A gradient-free scan cannot guess the attacked input either.
    code = main(["scan", str(path), "--data", str(data), "--eps", "0.1", "--attack", "spsa"])
    err = capsys.readouterr().err
    assert code == 3 and "2 inputs (image: tensor(float), meta: tensor(int64))" in err
    assert "--input NAME" in err
    assert main(["inspect", str(path)]) == 3
    capsys.readouterr()
    config = tmp_path / "robustcheck.yaml"
    config.write_text("input: image\n")
    report = tmp_path / "r.json"
    code = main(
        ["scan", str(path), "--data", str(data), "--eps", "0.1", "--config", str(config),
         "--json", str(report), "--exit-zero"]
    )  # fmt: skip
    capsys.readouterr()
    assert code == 0 and json.loads(report.read_text())["results"]


def test_a_missing_side_array_is_a_data_error(two_inputs, tmp_path, capsys):
    _, path, data = two_inputs
    arrays = np.load(data)
    partial = tmp_path / "partial.npz"
    np.savez(partial, x=arrays["x"], y=arrays["y"])
    code = main(["scan", str(path), "--data", str(partial), "--eps", "0.1", "--input", "image"])
    err = capsys.readouterr().err
    assert code == 3 and "'meta'" in err and str(partial) in err


def test_side_inputs_follow_their_rows_through_a_fixed_batch(tmp_path):
    from onnx import TensorProto, helper, numpy_helper

    from robustcheck.backends.loader import load_backend

    rng = np.random.default_rng(0)
    w = rng.standard_normal((6, 3)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "w"], ["z"]),
            helper.make_node("Cast", ["m"], ["mf"], to=TensorProto.FLOAT),
            helper.make_node("Add", ["z", "mf"], ["y"]),
        ],
        "g",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 6]),
            helper.make_tensor_value_info("m", TensorProto.INT64, [4, 3]),
        ],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 3])],
        initializer=[numpy_helper.from_array(w, "w")],
    )
    path = tmp_path / "static.onnx"
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=10)
    path.write_bytes(model.SerializeToString())
    backend = load_backend(path, input_name="x")
    assert backend.info.side_inputs == ("m",)
    x = rng.random((10, 6)).astype(np.float32)
    m = rng.integers(0, 100, size=(10, 3))
    expected = x.astype(np.float64) @ w + m
    side = {"m": torch.from_numpy(m)}
    np.testing.assert_allclose(
        backend.scores(torch.from_numpy(x), side).numpy(), expected, rtol=1e-5
    )
    twin = backend.differentiable_scores(torch.from_numpy(x), side).numpy()
    np.testing.assert_allclose(twin, expected, rtol=1e-5)
