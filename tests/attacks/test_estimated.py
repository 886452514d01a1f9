"""Gradient-free attacks (SPSA, NES): the acceptance figure on the digits CNN, an independent
numpy re-implementation of the estimate, query counting and batching of the probes."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch
from attacks.conftest import batch_context

from robustcheck.attacks import SPSA
from robustcheck.attacks.estimated import DEFAULT_QUERIES
from robustcheck.backends.loader import load_backend
from robustcheck.engine.config import ScanConfig
from robustcheck.engine.runner import run

N = 200


@pytest.fixture(scope="module")
def cnn_onnx(cnn_model, digits, tmp_path_factory):
    directory = tmp_path_factory.mktemp("estimated")
    path = directory / "cnn.onnx"
    torch.onnx.export(
        cnn_model.module, (torch.from_numpy(digits.x_test[:2]),), str(path),
        input_names=["x"], output_names=["y"], dynamic_axes={"x": {0: "n"}, "y": {0: "n"}},
        dynamo=False,
    )  # fmt: skip
    data = directory / "digits.npz"
    np.savez(data, x=digits.x_test[:N], y=digits.y_test[:N])
    return path, data


def test_one_step_spsa_reaches_most_of_fgsm_within_its_default_budget(cnn_onnx):
    path, data = cnn_onnx
    attacks = ["fgsm", "spsa", "spsa:queries=50,label=spsa50", "spsa:queries=200,label=spsa200"]
    report = run(ScanConfig(model=path, data=data, eps=[0.1, 0.25], attacks=attacks, seed=3))
    errors = {(r.attack, r.eps): r.adversarial_errors for r in report.results}
    for eps in (0.1, 0.25):
        assert errors[("spsa", eps)] >= 0.8 * errors[("fgsm", eps)], (eps, errors)
        assert errors[("spsa", eps)] > errors[("noise", eps)]
    # Error rises with the budget (at ε = 0.1, where FGSM does not fool everything).
    assert errors[("spsa50", 0.1)] < errors[("spsa200", 0.1)] < errors[("spsa", 0.1)]
    methods = {m.attack: m for m in report.methods or []}
    assert methods["fgsm"].method == "gradient" and methods["fgsm"].queries is None
    assert methods["noise"].method == "random"
    spsa = methods["spsa"]
    assert spsa.method == "estimated-gradient"
    assert spsa.queries == N * DEFAULT_QUERIES and spsa.max_queries_per_sample == DEFAULT_QUERIES
    assert spsa.queries_per_sample == DEFAULT_QUERIES


def _numpy_spsa(path, x, y, eps, pairs, rng):
    """SPSA written from the paper with onnxruntime and numpy only, one sample at a time."""
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    n = x.shape[0]
    v = rng.integers(0, 2, size=(pairs, n, *x.shape[1:]), dtype=np.int8) * 2 - 1
    signs = np.zeros_like(x, dtype=np.float64)
    for i in range(n):
        estimate = np.zeros(x.shape[1:])
        for k in range(pairs):
            plus = np.clip(x[i] + 0.5 * eps * v[k, i], 0, 1)
            minus = np.clip(x[i] - 0.5 * eps * v[k, i], 0, 1)
            batch = np.stack([plus, minus]).astype(np.float32)
            (logits,) = session.run(None, {"x": batch})
            z = logits.astype(np.float64)
            logp = z - z.max(1, keepdims=True)
            logp -= np.log(np.exp(logp).sum(1, keepdims=True))
            others = np.delete(logp, y[i], axis=1).max(1)
            margin = others - logp[:, y[i]]
            estimate += (margin[0] - margin[1]) * v[k, i]
        signs[i] = np.sign(estimate)
    return np.clip(x + eps * signs, 0, 1)


def test_the_estimate_matches_an_independent_numpy_implementation(cnn_onnx, digits):
    path, _ = cnn_onnx
    x, y = digits.x_test[:6].astype(np.float64), digits.y_test[:6]
    backend = load_backend(path, need_gradient=False)
    ctx = batch_context(backend, x.astype(np.float32), y, seed=5, batch_start=0)
    attack = SPSA.from_options({"queries": "40", "seed": "2"})
    out = attack(ctx, [0.1])
    # The attack draws its probes from the context's generator for (stream 2, its seed).
    expected = _numpy_spsa(path, x.astype(np.float32), y, 0.1, 20, ctx.rng(2, 2))
    got = out.adversarial[0.1].numpy()
    assert np.mean(np.isclose(got, expected, atol=1e-6)) > 0.99
    assert out.queries is not None and out.queries.tolist() == [40] * 6
    # Every probe of every sample went to the runtime in one call.
    assert ctx.runtime_evaluations == 1


def test_iterative_runs_stay_within_the_budget_per_eps(cnn_onnx, digits):
    path, _ = cnn_onnx
    backend = load_backend(path, need_gradient=False)
    x, y = digits.x_test[:20], digits.y_test[:20]
    ctx = batch_context(backend, x, y)
    attack = SPSA.from_options({"queries": "60", "steps": "4"})
    eps = [0.05, 0.1]
    out = attack(ctx, eps)
    assert out.queries is not None
    assert int(out.queries.max()) <= 60 * len(eps)
    for e in eps:
        assert np.abs(out.adversarial[e].numpy() - x).max() <= e + 1e-9


def test_nes_uses_gaussian_probes_and_spsa_rademacher():
    from robustcheck.attacks import NES

    assert NES().params.distribution == "gaussian"  # type: ignore[attr-defined]
    assert SPSA().params.distribution == "rademacher"  # type: ignore[attr-defined]
    assert not NES.needs_gradient and not SPSA.needs_gradient
