"""``noise_eps="largest"``: the noise baseline at the largest ε (and any ε a noise rule names),
with the same counts there as at every ε, and the beats-noise check still made."""

from __future__ import annotations

import pytest

from robustcheck.engine.config import ScanConfig
from robustcheck.engine.runner import run
from robustcheck.policy.schema import Policy

EPS = [0.05, 0.1, 0.2]


def _noise(report) -> dict[float, int]:
    return {r.eps: r.adversarial_errors for r in report.results if r.attack == "noise"}


@pytest.fixture(scope="module")
def every_eps(cnn_model, digits_npz):
    return run(
        ScanConfig(model=cnn_model.torchscript, data=digits_npz, eps=EPS, limit=240, isolate=False)
    )


def test_largest_only_keeps_the_largest_eps_counts_and_the_validity_check(
    every_eps, cnn_model, digits_npz
):
    report = run(
        ScanConfig(
            model=cnn_model.torchscript,
            data=digits_npz,
            eps=EPS,
            noise_eps="largest",
            limit=240,
            isolate=False,
        )
    )
    assert _noise(report) == {0.2: _noise(every_eps)[0.2]}
    fgsm = [r for r in report.results if r.attack == "fgsm"]
    assert fgsm == [r for r in every_eps.results if r.attack == "fgsm"]
    statuses = {c.name: c.status for c in report.validity.checks}
    assert statuses["beats_noise"] == "ok"


def test_an_eps_a_noise_rule_names_is_scanned_too(every_eps, cnn_model, digits_npz):
    policy = Policy.model_validate(
        {
            "version": 1,
            "budgets": [{"eps": 0.05, "attack": "noise", "max_adversarial_error_rate": 0.5}],
        }
    )
    report = run(
        ScanConfig(
            model=cnn_model.torchscript,
            data=digits_npz,
            eps=EPS,
            noise_eps="largest",
            limit=240,
            policy=policy,
            isolate=False,
        )
    )
    noise = _noise(every_eps)
    assert _noise(report) == {0.05: noise[0.05], 0.2: noise[0.2]}
    assert [c.status for c in report.checks if c.rule != "require_valid"] == ["pass"]
