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
from robustcheck.engine.config import ScanConfig
from robustcheck.engine.runner import run

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
    assert "'image': tensor(float)" in err and "'meta': tensor(int64)" in err and "--input" in err
    # A gradient-free scan cannot guess the attacked input either.
    code = main(["scan", str(path), "--data", str(data), "--eps", "0.1", "--attack", "spsa"])
    err = capsys.readouterr().err
    assert code == 3 and "2 inputs ('image': tensor(float), 'meta': tensor(int64))" in err
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


def _with_state(path, state_shape):
    """``logits = (x @ W + h0 summed over its leading non-batch axes) @ V``: ``x [B, 8]`` and a side
    input ``h0`` declared ``state_shape`` (a recurrent state, a scalar, a fixed table...)."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    batch_axis = state_shape.index("B") if "B" in state_shape else None
    reduce = [a for a in range(len(state_shape) - 1) if a != batch_axis]
    nodes = [helper.make_node("MatMul", ["x", "W"], ["a"])]
    state = "h0"
    if reduce:
        nodes.append(helper.make_node("ReduceSum", ["h0", "axes"], ["hs"], keepdims=0))
        state = "hs"
    nodes += [
        helper.make_node("Add", ["a", state], ["b"]),
        helper.make_node("MatMul", ["b", "V"], ["logits"]),
    ]
    graph = helper.make_graph(
        nodes,
        "state",
        [
            helper.make_tensor_value_info("x", TensorProto.FLOAT, ["B", 8]),
            helper.make_tensor_value_info("h0", TensorProto.FLOAT, list(state_shape)),
        ],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["B", 10])],
        initializer=[
            numpy_helper.from_array(rng.normal(size=(8, 16)).astype(np.float32), "W"),
            numpy_helper.from_array(rng.normal(size=(16, 10)).astype(np.float32), "V"),
            numpy_helper.from_array(np.array(reduce, np.int64), "axes"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    path.write_bytes(model.SerializeToString())
    return path


NOT_BATCHED = {
    "recurrent-state": ([2, "B", 16], "its axis 0 is fixed at 2 (the batch 'B' is its axis 1)"),
    "sequence-first": (["T", "B", 16], "its axis 0 is 'T' (the batch 'B' is its axis 1)"),
    "fixed-table": ([1, 16], "its axis 0 is fixed at 1"),
    "scalar": ([], "a scalar has no batch axis"),
}


@pytest.mark.parametrize("attacks", [[], ["--attack", "spsa"]], ids=["gradient", "query-only"])
@pytest.mark.parametrize("case", NOT_BATCHED.values(), ids=NOT_BATCHED.keys())
def test_a_side_input_not_batched_on_axis_0_is_refused_up_front(tmp_path, capsys, case, attacks):
    shape, why = case
    model = _with_state(tmp_path / "state.onnx", shape)
    data = tmp_path / "data.npz"
    np.savez(data, x=np.random.default_rng(1).random((20, 8)).astype(np.float32))
    argv = ["scan", str(model), "--data", str(data), "--eps", "0.1", "--input", "x", *attacks]
    code = main([*argv, "--no-isolation"])
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 3 and len(lines) == 1 and "Traceback" not in err, err
    shown = "[" + ", ".join(str(d) for d in shape) + "]"
    assert f"{model}: input 'h0' is declared {shown}: {why}" in lines[0], err
    assert "the attacked 'x' (declared [B, 8])" in lines[0] and "axis 0" in lines[0]


def test_a_side_input_batched_on_axis_0_is_fed(tmp_path, capsys):
    model = _with_state(tmp_path / "state.onnx", ["B", 16])
    data = tmp_path / "data.npz"
    rng = np.random.default_rng(1)
    np.savez(
        data, x=rng.random((20, 8)).astype(np.float32), h0=rng.random((20, 16)).astype(np.float32)
    )
    code = main(["scan", str(model), "--data", str(data), "--eps", "0.1", "--input", "x"])
    assert code in (0, 1), capsys.readouterr().err


def test_the_runtime_s_shape_error_keeps_its_dimensions(two_inputs, tmp_path, capsys):
    """``meta`` is declared ``[n, 3]``; the data's has 4 columns, which onnxruntime refuses in a
    message whose last line says only "Please fix either the inputs/outputs or the model"."""
    _, path, data = two_inputs
    arrays = np.load(data)
    wide = tmp_path / "wide.npz"
    meta = np.hstack([arrays["meta"], arrays["meta"][:, :1]])
    np.savez(wide, x=arrays["x"], y=arrays["y"], meta=meta)
    argv = ["scan", str(path), "--data", str(wide), "--eps", "0.1", "--input", "image"]
    code = main([*argv, "--attack", "spsa"])
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 3 and len(lines) == 1, err
    assert "Got invalid dimensions for input: meta" in lines[0], err
    assert "index: 1 Got: 4 Expected: 3" in lines[0] and "Please fix" not in lines[0], err


def _arrays(data) -> dict[str, np.ndarray]:
    with np.load(data) as arrays:
        return {name: arrays[name] for name in arrays.files}


def test_the_attacked_input_s_array_is_read_by_its_name(two_inputs, tmp_path, capsys):
    """Like every other input: ``image`` is read from the array ``image`` (no ``x``, no
    --x-key), and the report records that array."""
    _, path, data = two_inputs
    arrays = _arrays(data)
    named = tmp_path / "named.npz"
    np.savez(named, image=arrays["x"], meta=arrays["meta"], y=arrays["y"])
    report = tmp_path / "r.json"
    argv = ["scan", str(path), "--data", str(named), "--eps", "0.1", "--input", "image"]
    code = main([*argv, "--json", str(report), "--exit-zero"])
    assert code == 0, capsys.readouterr().err
    written = json.loads(report.read_text())
    assert written["data"]["x_key"] == "image"
    assert written["results"][0]["clean_correct"] > 0.8 * N


def test_the_named_array_wins_over_x_and_the_report_says_so(two_inputs, tmp_path, capsys):
    """With both ``x`` and ``image`` (and no --x-key) the named array is attacked, as the other
    inputs are read by name; --x-key x reads ``x`` instead, without a note."""
    _, path, data = two_inputs
    arrays = _arrays(data)
    both = tmp_path / "both.npz"
    np.savez(
        both, x=np.zeros_like(arrays["x"]), image=arrays["x"], meta=arrays["meta"], y=arrays["y"]
    )
    report = tmp_path / "r.json"
    argv = ["scan", str(path), "--data", str(both), "--eps", "0.1", "--input", "image"]
    argv += ["--json", str(report), "--exit-zero", "--allow-low-accuracy"]
    assert main(argv) == 0, capsys.readouterr().err
    written = json.loads(report.read_text())
    assert written["data"]["x_key"] == "image"
    assert written["results"][0]["clean_correct"] > 0.8 * N  # the real images, not the zeros
    note = (
        f"{both}: the attacked input 'image' was read from the array named after it, not from 'x'"
    )
    assert any(w.startswith(note) and "--x-key x" in w for w in written["warnings"])

    assert main([*argv, "--x-key", "x"]) == 0, capsys.readouterr().err
    written = json.loads(report.read_text())
    assert written["data"]["x_key"] == "x" and not any(
        "named after it" in w for w in written["warnings"]
    )


def test_an_explicit_x_key_wins_and_a_missing_one_is_named(two_inputs, tmp_path, capsys):
    _, path, data = two_inputs
    arrays = _arrays(data)
    named = tmp_path / "named.npz"
    np.savez(named, image=arrays["x"], pixels=arrays["x"], meta=arrays["meta"], y=arrays["y"])
    argv = ["scan", str(path), "--data", str(named), "--eps", "0.1", "--input", "image"]
    report = tmp_path / "r.json"
    assert main([*argv, "--x-key", "pixels", "--json", str(report), "--exit-zero"]) == 0
    assert json.loads(report.read_text())["data"]["x_key"] == "pixels"
    code = main([*argv, "--x-key", "x"])
    err = capsys.readouterr().err
    assert code == 3 and len(err.strip().splitlines()) == 1
    assert f"{named}: no array named 'x' (found: 'image', 'meta', 'pixels', 'y')" in err
