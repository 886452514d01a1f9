"""Validity checks: a model with shattered gradients is flagged and fails builtin:strict; the
ordinary digits models are not flagged."""

from __future__ import annotations

import pytest
import torch

from robustcheck.engine.config import ScanConfig
from robustcheck.engine.runner import run
from robustcheck.policy.load import load_builtin

EPS = [0.05, 0.1, 0.25]


class Shattered(torch.nn.Module):
    """A steep periodic input transform: the function barely changes (±0.02), but its input
    gradient is dominated by cos(1000·x), which points nowhere useful (Athalye et al. 2018)."""

    def __init__(self, inner: torch.nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x + 0.02 * torch.sin(1000.0 * x))


@pytest.fixture(scope="module")
def shattered(cnn_model, digits, tmp_path_factory):
    path = tmp_path_factory.mktemp("masking") / "shattered.pt"
    module = Shattered(cnn_model.module).eval()
    torch.jit.save(torch.jit.trace(module, torch.from_numpy(digits.x_test[:2])), str(path))
    return path


def _flagged(report) -> set[str]:
    return {c.name for c in report.validity.checks if c.status == "flagged"}


def test_shattered_gradients_are_flagged_and_fail_strict(shattered, digits_npz):
    policy = load_builtin("strict")
    report = run(
        ScanConfig(model=shattered, data=digits_npz, eps=EPS, policy=policy, policy_source="s")
    )
    assert not report.validity.reliable
    assert "beats_noise" in _flagged(report)
    (rule,) = [c for c in report.checks if c.rule == "require_valid"]
    assert rule.status == "fail" and "unreliable" in rule.message
    assert report.verdict == "fail"


@pytest.mark.parametrize("name", ["cnn_model", "linear_model"])
def test_ordinary_digits_models_are_not_flagged(request, name, digits_npz):
    model = request.getfixturevalue(name)
    config = ScanConfig(
        model=model.torchscript, data=digits_npz, eps=EPS, attacks=["fgsm", "pgd:steps=10"]
    )
    report = run(config)
    assert report.validity.reliable, [c.reason for c in report.validity.checks]
    statuses = {c.name: c.status for c in report.validity.checks}
    assert statuses["beats_noise"] == "ok"
    assert statuses["iterative_not_weaker"] == "ok"
    assert statuses["gradient_masking"] == "ok"


def test_without_noise_the_comparison_is_not_applicable(cnn_model, digits_npz):
    report = run(
        ScanConfig(model=cnn_model.torchscript, data=digits_npz, eps=[0.1], noise_baseline=False)
    )
    statuses = {c.name: c.status for c in report.validity.checks}
    assert statuses["beats_noise"] == "not_applicable"
    assert statuses["iterative_not_weaker"] == "not_applicable"
