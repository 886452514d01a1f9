"""``robustcheck surrogate fit``: a small torch model distilled from a target's predictions."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skl2onnx import to_onnx
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier

from robustcheck.backends.loader import load_backend
from robustcheck.cli import main
from robustcheck.data import load_dataset
from robustcheck.scan.config import ScanConfig
from robustcheck.scan.runner import run
from robustcheck.scan.transfer import load_target
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
