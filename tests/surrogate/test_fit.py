"""``robustcheck surrogate fit``: a small torch model distilled from a target's predictions."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from skl2onnx import to_onnx
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier

from robustcheck.backends.loader import load_backend
from robustcheck.cli import main
from robustcheck.data import load_dataset
from robustcheck.engine.config import ScanConfig
from robustcheck.engine.runner import run
from robustcheck.engine.transfer import load_target
from robustcheck.surrogate import FitSettings, fit_surrogate


@pytest.fixture(scope="module")
def forest(tmp_path_factory):
    """A random forest on breast_cancer (raw features 0.001 … 4,000), exported with skl2onnx."""
    root = tmp_path_factory.mktemp("forest")
    data = load_breast_cancer()
    x, y = data.data.astype(np.float32), data.target.astype(np.int64)
    model = RandomForestClassifier(n_estimators=30, max_depth=6, random_state=0).fit(x, y)
    path = root / "forest.onnx"
    onnx_model = to_onnx(
        model,
        x[:1],
        options={id(model): {"zipmap": False}},
        target_opset={"": 17, "ai.onnx.ml": 3},
    )
    path.write_bytes(onnx_model.SerializeToString())
    npz = root / "cancer.npz"
    np.savez(npz, x=x, y=y)
    return path, npz, model, x


def test_a_forest_is_distilled_into_an_mlp_agreeing_on_90_percent(forest, tmp_path, capsys):
    path, npz, model, x = forest
    out = tmp_path / "surrogate.pt"
    assert main(["surrogate", "fit", str(path), "--data", str(npz), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "MLP (30→64→64→2)" in printed and "held-out" in printed
    surrogate = load_backend(out)
    predicted = surrogate.scores(torch.from_numpy(x)).argmax(1).numpy()
    agreement = float((predicted == model.predict(x)).mean())
    print(printed, agreement)
    assert agreement >= 0.9
    # The surrogate drives a transfer scan of the forest, which no twin can differentiate.
    report = run(ScanConfig(model=path, data=npz, eps=[0.5], eps_units="std", surrogate=out))
    assert report.model.surrogate.path == str(out)
    fgsm = next(r for r in report.results if r.attack == "fgsm")
    noise = next(r for r in report.results if r.attack == "noise")
    assert fgsm.adversarial_errors > noise.adversarial_errors


def test_fitting_is_deterministic_and_measures_a_holdout(forest):
    path, npz, _, _ = forest
    target = load_target(path)
    dataset = load_dataset(npz)
    settings = FitSettings(epochs=5, seed=3)
    a, b = fit_surrogate(target, dataset, settings), fit_surrogate(target, dataset, settings)
    assert a.n_holdout == round(0.2 * 569) and a.n_train + a.n_holdout == 569
    assert (a.train_agreement, a.holdout_agreement) == (b.train_agreement, b.holdout_agreement)
    for p, q in zip(a.module.parameters(), b.module.parameters(), strict=True):
        assert torch.equal(p, q)


def test_images_get_a_cnn_that_agrees_with_the_digits_cnn(cnn_model, digits_npz, tmp_path, capsys):
    out = tmp_path / "cnn-surrogate.pt"
    args = ["surrogate", "fit", str(cnn_model.torchscript), "--data", str(digits_npz)]
    assert main([*args, "--out", str(out), "--epochs", "20", "--min-agreement", "0.9"]) == 0
    printed = capsys.readouterr().out
    assert "CNN (16→32 channels → 10 classes)" in printed
    assert main([*args, "--out", str(out), "--epochs", "1", "--min-agreement", "0.99"]) == 1


def test_bad_input_fails_in_one_line(forest, tmp_path, capsys):
    path, npz, _, _ = forest
    assert (
        main(
            [
                "surrogate",
                "fit",
                str(path),
                "--data",
                str(tmp_path / "no.npz"),
                "--out",
                str(tmp_path / "s.pt"),
            ]
        )
        == 3
    )
    assert main(["surrogate", "fit", str(path), "--data", str(npz), "--out", str(npz)]) == 2
    assert "would overwrite an input" in capsys.readouterr().err


def _fit_recording_warnings(argv, capsys):
    """``main(argv)`` with every warning filter open: what would reach a terminal under any
    ``-W``/``PYTHONWARNINGS`` setting is caught here (and stderr)."""
    import warnings

    capsys.readouterr()
    with warnings.catch_warnings(record=True) as escaped:
        warnings.simplefilter("always")
        code = main(argv)
    return code, [f"{w.category.__name__}: {w.message}" for w in escaped], capsys.readouterr()


@pytest.mark.parametrize("kind", ["onnx", "torchscript"])
def test_no_dependency_warning_reaches_the_terminal(
    forest, cnn_model, digits_npz, tmp_path, capsys, kind
):
    """torch deprecates torch.jit.trace/save (and load): robustcheck writes and reads the
    surrogate itself, so nothing is said about it."""
    target, data = (forest[0], forest[1]) if kind == "onnx" else (cnn_model.torchscript, digits_npz)
    out = tmp_path / "surrogate.pt"
    argv = ["surrogate", "fit", str(target), "--data", str(data), "--out", str(out)]
    code, escaped, captured = _fit_recording_warnings([*argv, "--epochs", "2"], capsys)
    assert code == 0 and escaped == [] and captured.err == "", (escaped, captured.err)


class _WarningTarget(torch.nn.Module):
    """A target that warns on every call: the warning is said once, in robustcheck's words."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        warnings.warn("calibration drift\nsecond line", stacklevel=2)
        return x.reshape(x.shape[0], -1)[:, :10]


def test_a_relevant_warning_becomes_one_note_line(digits_npz, tmp_path, capsys):
    target = tmp_path / "warns.pt"
    torch.jit.save(torch.jit.script(_WarningTarget()), str(target))
    out = tmp_path / "surrogate.pt"
    argv = ["surrogate", "fit", str(target), "--data", str(digits_npz), "--out", str(out)]
    code, escaped, captured = _fit_recording_warnings([*argv, "--epochs", "2"], capsys)
    assert code == 0 and escaped == []
    assert captured.err.splitlines() == [
        "robustcheck: note: a warning was raised while distilling the target: "
        "UserWarning: calibration drift"
    ]
