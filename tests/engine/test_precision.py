"""``--precision bf16``: the gradient pass under bfloat16 autocast (torch's CPU autocast here);
the deployed model still scores in float32, and the report says which precision ran."""

from __future__ import annotations

import json

import pytest
import torch

from robustcheck.backends.loader import load_backend
from robustcheck.cli import main
from robustcheck.engine.fidelity import BF16_TOLERANCE
from robustcheck.engine.precision import BF16_NOTE, with_precision


@pytest.fixture(scope="module")
def reports(cnn_model, digits_npz, tmp_path_factory):
    out = {}
    for precision in ("fp32", "bf16"):
        path = tmp_path_factory.mktemp("precision") / f"{precision}.json"
        code = main(
            ["scan", str(cnn_model.torchscript), "--data", str(digits_npz), "--eps", "0.05",
             "--eps", "0.1", "--precision", precision, "--no-isolation", "--exit-zero",
             "--json", str(path)]
        )  # fmt: skip
        assert code == 0
        out[precision] = json.loads(path.read_text())
    return out


def test_the_report_records_the_precision(reports):
    assert reports["fp32"]["settings"]["precision"] == "fp32"
    assert reports["bf16"]["settings"]["precision"] == "bf16"
    assert BF16_NOTE in reports["bf16"]["warnings"]
    assert BF16_NOTE not in reports["fp32"]["warnings"]


def test_bf16_changes_the_gradient_pass_only(reports):
    fp32, bf16 = reports["fp32"], reports["bf16"]
    # The same module scores both paths in float32: identical; in bfloat16 they drift apart.
    assert fp32["fidelity"]["clean_max_abs_probability_difference"] == 0.0
    assert 0.0 < bf16["fidelity"]["clean_max_abs_probability_difference"] <= BF16_TOLERANCE
    assert bf16["fidelity"]["tolerance"] == BF16_TOLERANCE and bf16["fidelity"]["trusted"]
    for a, b in zip(fp32["results"], bf16["results"], strict=True):
        assert (a["attack"], a["eps"]) == (b["attack"], b["eps"])
        assert a["clean_error_rate"] == b["clean_error_rate"]  # deployed scores: float32
        assert abs(a["adversarial_error_rate"] - b["adversarial_error_rate"]) <= 0.02
        if a["attack"] == "noise":  # no gradient: the same inputs, the same counts
            assert a["adversarial_errors"] == b["adversarial_errors"]


def test_autocast_backend_returns_float32_scores_with_gradients(cnn_model, digits):
    backend = with_precision(load_backend(cnn_model.torchscript, device="cpu"), "bf16")
    x = torch.from_numpy(digits.x_test[:8]).requires_grad_(True)
    scores = backend.forward(x)
    assert scores.dtype == torch.float32
    (grad,) = torch.autograd.grad(scores.sum(), x)
    assert grad.dtype == torch.float32 and grad.abs().sum() > 0
    deployed = backend.scores(x.detach())
    exact = load_backend(cnn_model.torchscript, device="cpu").scores(x.detach())
    assert torch.equal(deployed, exact)
    assert not torch.equal(backend.differentiable_scores(x.detach()), exact)
