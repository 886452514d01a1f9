"""skl2onnx exports of scikit-learn models on digits: ai.onnx.ml ops, ZipMap, tree ensembles."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skl2onnx import to_onnx
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier

from robustcheck.backends.loader import load_backend
from robustcheck.cli import main
from robustcheck.engine.config import ScanConfig
from robustcheck.engine.runner import run

EPS = [0.05, 0.1, 0.2]


@pytest.fixture(scope="module")
def flat(digits, tmp_path_factory):
    directory = tmp_path_factory.mktemp("sklearn")
    x_train = digits.x_train.reshape(len(digits.x_train), -1)
    x_test = digits.x_test.reshape(len(digits.x_test), -1)
    data = directory / "flat.npz"
    np.savez(data, x=x_test, y=digits.y_test)
    return directory, x_train, digits.y_train, x_test, digits.y_test, data


def _export(model, x, path, zipmap):
    options = None if zipmap else {id(model): {"zipmap": False}}
    path.write_bytes(
        to_onnx(
            model, x[:1], options=options, target_opset={"": 17, "ai.onnx.ml": 3}
        ).SerializeToString()
    )
    return path


def _softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _fgsm_errors(forward_backward, x, y, eps):
    _probs, grad = forward_backward(x.astype(np.float64), y)
    adv = np.clip(x + eps * np.sign(grad), 0, 1).astype(np.float32)
    adv_probs, _ = forward_backward(adv.astype(np.float64), y)
    return int((adv_probs.argmax(1) != y).sum())


def _lr_forward_backward(model):
    def fb(x, y):
        p = _softmax(x @ model.coef_.T + model.intercept_)
        d = p.copy()
        d[np.arange(len(y)), y] -= 1
        return p, d @ model.coef_

    return fb


def _mlp_forward_backward(model):
    (w1, w2), (b1, b2) = model.coefs_, model.intercepts_

    def fb(x, y):
        h = np.maximum(x @ w1 + b1, 0)
        p = _softmax(h @ w2 + b2)
        d = p.copy()
        d[np.arange(len(y)), y] -= 1
        return p, ((d @ w2.T) * (h > 0)) @ w1.T

    return fb


@pytest.mark.parametrize("zipmap", [False, True], ids=["probabilities", "zipmap"])
@pytest.mark.parametrize("kind", ["logistic", "mlp"])
def test_sklearn_models_scan_like_an_exact_reference(flat, kind, zipmap):
    directory, x_train, y_train, x_test, y_test, data = flat
    if kind == "logistic":
        model = LogisticRegression(max_iter=500).fit(x_train, y_train)
        reference = _lr_forward_backward(model)
    else:
        model = MLPClassifier(hidden_layer_sizes=(32,), max_iter=300, random_state=0).fit(
            x_train, y_train
        )
        reference = _mlp_forward_backward(model)
    path = _export(model, x_train, directory / f"{kind}-{zipmap}.onnx", zipmap)

    backend = load_backend(path)
    xt = torch.from_numpy(x_test)
    runtime, twin = backend.scores(xt).numpy(), backend.differentiable_scores(xt).numpy()
    assert np.abs(runtime - twin).max() < 1e-5
    assert np.abs(runtime - model.predict_proba(x_test)).max() < 1e-4

    report = run(ScanConfig(model=path, data=data, eps=EPS))
    assert report.model.output_kind == "probabilities"
    assert report.fidelity.trusted
    for result in (r for r in report.results if r.attack == "fgsm"):
        expected = _fgsm_errors(reference, x_test, y_test, result.eps)
        assert abs(result.adversarial_errors - expected) <= 1, (result.eps, expected)


def test_tree_ensemble_gets_a_clear_message_not_a_traceback(flat, capsys):
    directory, x_train, y_train, _, _, data = flat
    forest = RandomForestClassifier(n_estimators=3, max_depth=3, random_state=0).fit(
        x_train, y_train
    )
    path = _export(forest, x_train, directory / "forest.onnx", zipmap=False)
    code = main(["scan", str(path), "--data", str(data), "--eps", "0.1"])
    err = capsys.readouterr().err
    assert code == 3
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "TreeEnsembleClassifier" in err and str(path) in err
