"""The input contract: raw units, normalisation outside the model, deployed dtypes, data checks."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch
from PIL import Image

from robustcheck.cli import main


def _scan(capsys, tmp_path, model, data, *extra, name="r.json"):
    report = tmp_path / name
    code = main(
        [
            "scan",
            str(model),
            "--data",
            str(data),
            "--json",
            str(report),
            "--no-noise",
            *map(str, extra),
        ]
    )
    captured = capsys.readouterr()
    body = json.loads(report.read_text())
    return code, captured.err, body


def _fgsm(body):
    return [
        (r["eps"], r["adversarial_errors"], r["high_confidence_misclassifications"])
        for r in body["results"]
    ]


@pytest.fixture(scope="module")
def pixels(digits, tmp_path_factory):
    """The digits test set as 0..255 integers, and the same data scaled to 0..1 (float32)."""
    directory = tmp_path_factory.mktemp("pixels")
    x255 = np.round(digits.x_test * 255).astype(np.float32)
    p255, p01 = directory / "x255.npz", directory / "x01.npz"
    np.savez(p255, x=x255, y=digits.y_test)
    np.savez(p01, x=x255 / np.float32(255), y=digits.y_test)
    return p255, p01


def test_eps_in_raw_pixels_equals_eps_in_unit_range(capsys, tmp_path, cnn_model, pixels):
    p255, p01 = pixels
    code_a, _, raw = _scan(
        capsys,
        tmp_path,
        cnn_model.torchscript,
        p255,
        "--eps",
        8,
        "--input-range",
        0,
        255,
        "--mean",
        "0",
        "--std",
        "255",
        name="a.json",
    )
    code_b, _, unit = _scan(
        capsys,
        tmp_path,
        cnn_model.torchscript,
        p01,
        "--eps",
        8 / 255,
        "--input-range",
        0,
        1,
        name="b.json",
    )
    assert code_a == code_b == 0
    assert [r[1:] for r in _fgsm(raw)] == [r[1:] for r in _fgsm(unit)]
    assert raw["input"]["eps_model_units"] == [[pytest.approx(8 / 255)]]
    assert raw["settings"]["input_range"] == {"lo": 0.0, "hi": 255.0}


class Normalise(torch.nn.Module):
    def __init__(self, mean: float, std: float) -> None:
        super().__init__()
        self.mean, self.std = mean, std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


def test_normalisation_outside_equals_normalisation_baked_in(
    capsys, tmp_path, cnn_model, digits_npz, digits
):
    mean, std = 0.3, 0.45
    inner = torch.nn.Sequential(
        Normalise(-mean / std, 1 / std), cnn_model.module
    ).eval()  # expects normalised x
    baked = torch.nn.Sequential(Normalise(mean, std), inner).eval()
    example = torch.from_numpy(digits.x_test[:2])
    torch.jit.save(torch.jit.trace(inner, example), str(tmp_path / "inner.pt"))
    torch.jit.save(torch.jit.trace(baked, example), str(tmp_path / "baked.pt"))
    _, _, outside = _scan(
        capsys,
        tmp_path,
        tmp_path / "inner.pt",
        digits_npz,
        "--eps",
        0.1,
        "--mean",
        mean,
        "--std",
        std,
        name="outside.json",
    )
    _, _, inside = _scan(
        capsys, tmp_path, tmp_path / "baked.pt", digits_npz, "--eps", 0.1, name="inside.json"
    )
    assert _fgsm(outside) == _fgsm(inside)
    assert outside["input"]["mean"] == [mean] and inside["input"]["mean"] is None


def test_uint8_deployment_rounds_and_counts_before_and_after(capsys, tmp_path, cnn_model, pixels):
    p255, _ = pixels
    args = ["--input-range", 0, 255, "--mean", "0", "--std", "255", "--deployed-dtype", "uint8"]
    code, _, body = _scan(
        capsys, tmp_path, cnn_model.torchscript, p255, "--eps", 8, "--eps", 2.5, *args
    )
    assert code == 0
    for result in body["results"]:
        assert result["adversarial_errors_before_rounding"] is not None
    # ε = 2.5 rounds to 2 or 3 grey levels: the gated count differs from the unrounded one at some ε
    code, err, stub = _scan(
        capsys, tmp_path, cnn_model.torchscript, p255, "--eps", 0.5, *args, name="c.json"
    )
    assert code == 3 and "below one grey level" in err and stub["complete"] is False


def test_off_grid_uint8_data_fails_the_eps_zero_check(capsys, tmp_path, cnn_model, pixels):
    _, p01 = pixels
    code, err, _ = _scan(
        capsys,
        tmp_path,
        cnn_model.torchscript,
        p01,
        "--eps",
        8 / 255,
        "--input-range",
        0,
        1,
        "--deployed-dtype",
        "uint8",
    )
    # 0..1 data on a 1/255 grid: rounding must reproduce it exactly, so this passes...
    assert code == 0, err
    noisy = tmp_path / "noisy.npz"
    data = np.load(p01)
    np.savez(noisy, x=np.clip(data["x"] + 0.001, 0, 1).astype(np.float32), y=data["y"])
    code, err, _ = _scan(
        capsys,
        tmp_path,
        cnn_model.torchscript,
        noisy,
        "--eps",
        8 / 255,
        "--input-range",
        0,
        1,
        "--deployed-dtype",
        "uint8",
        name="d.json",
    )
    assert code == 3 and "does not reproduce the clean predictions" in err


def test_low_clean_accuracy_is_an_error_unless_allowed(capsys, tmp_path, cnn_model, digits):
    shuffled = tmp_path / "wrong_labels.npz"
    np.savez(shuffled, x=digits.x_test, y=np.random.default_rng(0).permutation(digits.y_test))
    code, err, _ = _scan(capsys, tmp_path, cnn_model.torchscript, shuffled, "--eps", 0.1)
    assert code == 3 and "near chance" in err and len(err.strip().splitlines()) == 1
    code, _, body = _scan(
        capsys,
        tmp_path,
        cnn_model.torchscript,
        shuffled,
        "--eps",
        0.1,
        "--allow-low-accuracy",
        "--policy",
        "builtin:default",
        "--exit-zero",
    )
    assert code == 0 and any("near chance" in w for w in body["warnings"])


def test_graph_normalisation_plus_mean_std_is_refused(capsys, tmp_path, digits_npz, digits):
    model = torch.nn.Sequential(
        Normalise(0.5, 0.25), torch.nn.Flatten(), torch.nn.Linear(64, 10)
    ).eval()
    path = tmp_path / "normalising.onnx"
    torch.onnx.export(
        model,
        (torch.from_numpy(digits.x_test[:2]),),
        str(path),
        dynamo=False,
        opset_version=17,
        input_names=["input"],
        dynamic_axes={"input": {0: "batch"}},
    )
    assert "Sub" in [n.op_type for n in onnx.load(str(path)).graph.node if "input" in n.input]
    code, err, _ = _scan(
        capsys,
        tmp_path,
        path,
        digits_npz,
        "--eps",
        0.1,
        "--mean",
        "0.5",
        "--std",
        "0.25",
        "--allow-low-accuracy",
    )
    assert code == 3 and "applied twice" in err and str(path) in err


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"x": "nan"}, "NaN or Inf"),
        ({"y": 12}, "outside the model's 10 classes"),
        ({"x": "shape"}, "expects [N, 1, 8, 8]"),
        ({"x": "range"}, "outside --input-range"),
    ],
    ids=["nan", "labels", "shape", "range"],
)
def test_contract_checks_exit_3_with_one_line(capsys, tmp_path, digits, arrays, message):
    x, y = digits.x_test.copy(), digits.y_test.copy()
    if arrays.get("x") == "nan":
        x[3, 0, 2, 2] = np.nan
    if arrays.get("x") == "shape":
        x = x.reshape(len(x), 8, 8, 1)
    if arrays.get("x") == "range":
        x = x * 2
    if "y" in arrays:
        y[5] = arrays["y"]
    data = tmp_path / "d.npz"
    np.savez(data, x=x, y=y)
    onnx_model = tmp_path / "m.onnx"
    lin = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10)).eval()
    torch.onnx.export(
        lin,
        (torch.zeros(2, 1, 8, 8),),
        str(onnx_model),
        dynamo=False,
        opset_version=17,
        input_names=["input"],
        dynamic_axes={"input": {0: "batch"}},
    )
    code, err, _ = _scan(
        capsys,
        tmp_path,
        onnx_model,
        data,
        "--eps",
        0.1,
        "--input-range",
        0,
        1,
        "--allow-low-accuracy",
    )
    assert code == 3, err
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_limit_and_per_class_are_stratified_and_recorded(capsys, tmp_path, cnn_model, digits_npz):
    code, _, body = _scan(
        capsys, tmp_path, cnn_model.torchscript, digits_npz, "--eps", 0.1, "--per-class", 5
    )
    assert code == 0 and body["data"]["n_samples"] == 50 and body["data"]["n_file_samples"] == 719
    assert all(c["n"] == 5 for c in body["results"][0]["per_class"])
    again = _scan(
        capsys,
        tmp_path,
        cnn_model.torchscript,
        digits_npz,
        "--eps",
        0.1,
        "--per-class",
        5,
        name="b.json",
    )[2]
    assert body["data"]["manifest_sha256"] == again["data"]["manifest_sha256"]
    other = _scan(
        capsys,
        tmp_path,
        cnn_model.torchscript,
        digits_npz,
        "--eps",
        0.1,
        "--limit",
        100,
        "--seed",
        3,
        name="c.json",
    )[2]
    assert (
        other["data"]["n_samples"] == 100
        and other["data"]["manifest_sha256"] != body["data"]["manifest_sha256"]
    )


def test_png_folder_and_csv_scan_end_to_end(capsys, tmp_path, cnn_model, linear_model, digits):
    root = tmp_path / "images"
    for i in range(60):
        label = int(digits.y_test[i])
        folder = root / f"digit_{label}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.round(digits.x_test[i, 0] * 255).astype(np.uint8), mode="L").save(
            folder / f"{i}.png"
        )
    (root / "classes.txt").write_text("".join(f"digit_{c}\n" for c in range(10)))
    code, err, body = _scan(
        capsys,
        tmp_path,
        cnn_model.torchscript,
        root,
        "--eps",
        8,
        "--input-range",
        0,
        255,
        "--std",
        "255",
        "--deployed-dtype",
        "uint8",
        "--report-only",
    )
    assert code == 0, err
    assert body["data"]["class_names"][:2] == ["digit_0", "digit_1"]
    assert body["results"][0]["per_class"][0]["class_name"] == "digit_0"

    csv_path = tmp_path / "tabular.csv"
    flat = digits.x_test.reshape(len(digits.x_test), -1)
    header = ",".join([*(f"f{i}" for i in range(64)), "label"])
    rows = [
        ",".join([*(f"{v:.6f}" for v in row), str(int(label))])
        for row, label in zip(flat, digits.y_test, strict=True)
    ]
    csv_path.write_text(header + "\n" + "\n".join(rows) + "\n")
    flat_model = tmp_path / "flat.pt"
    lin = torch.nn.Sequential(linear_model.module[1]).eval()
    torch.jit.save(torch.jit.trace(lin, torch.from_numpy(flat[:2])), str(flat_model))
    code, err, body = _scan(
        capsys, tmp_path, flat_model, csv_path, "--eps", 0.1, "--report-only", name="csv.json"
    )
    assert code == 0, err and body["data"]["format"] == "csv"


def test_eps_above_half_the_range_warns_with_the_likely_unit():
    from robustcheck.attacks import InputDomain
    from robustcheck.engine.contract import eps_warnings

    unit = InputDomain(0.0, 1.0)
    assert eps_warnings([0.03, 0.5], unit) == []
    (warning,) = eps_warnings([0.03, 8], unit)
    assert "ε = 8 is more than half the valid input range [0, 1]" in warning
    assert "did you mean --eps 8/255 ≈ 0.03137?" in warning
    assert eps_warnings([200], InputDomain(0.0, 255.0)) != []
    assert eps_warnings([8], InputDomain(0.0, 255.0)) == []
    assert eps_warnings([8], None) == []
