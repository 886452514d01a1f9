"""The default gate judges what ran and how trustworthy it is: a PGD scan with no policy fails a
model PGD breaks; an unreliable scan never passes; the FGSM-gap probe flags a model FGSM
under-reports (trained against FGSM by `robustcheck harden`) and stays quiet on the digits CNN."""

from __future__ import annotations

import numpy as np
import pytest

from robustcheck.cli import main
from robustcheck.engine.config import ScanConfig
from robustcheck.engine.runner import run
from robustcheck.harden import HardenConfig, harden
from robustcheck.policy.load import load_builtin


def _scan(model, data, eps, **settings):
    return run(ScanConfig(model=model, data=data, eps=eps, threads=1, isolate=False, **settings))


def test_a_pgd_scan_without_a_policy_fails_a_model_pgd_breaks(cnn_model, digits_npz, capsys):
    code = main(
        ["scan", str(cnn_model.torchscript), "--data", str(digits_npz), "--eps", "0.25",
         "--attack", "pgd:steps=10", "--limit", "200", "--no-progress", "--no-isolation"]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 1
    assert "FAIL   pgd eps=0.25" in out


@pytest.fixture(scope="module")
def fgsm_trained(cnn_model, digits, digits_npz, tmp_path_factory):
    """The digits CNN fine-tuned against FGSM at ε = 0.2: FGSM's own error drops far more than
    an iterative attack's (measured 47 % against 66 % on the probe)."""
    root = tmp_path_factory.mktemp("fgsm-trained")
    train = root / "train.npz"
    np.savez(train, x=digits.x_train, y=digits.y_train)
    out = root / "fgsm-trained.pt"
    harden(
        HardenConfig(
            model=cnn_model.torchscript, data=train, val=digits_npz, output=out,
            eps=0.2, epochs=8, lr=0.01, report_attacks=["fgsm"],
        )
    )  # fmt: skip
    return out


def _gap(report):
    (check,) = [c for c in report.validity.checks if c.name == "fgsm_gap"]
    return check


def test_the_gap_probe_flags_a_model_trained_against_fgsm_and_the_gate_fails(
    fgsm_trained, digits_npz
):
    report = _scan(
        fgsm_trained, digits_npz, [0.2], policy=load_builtin("default"), policy_source="default"
    )
    check = _gap(report)
    assert check.status == "flagged", (check.reason, report.validity.probe)
    assert "fgsm under-reports" in check.reason and "--attack auto" in check.reason
    (probe,) = report.validity.probe.results
    assert probe.samples == 64 and probe.probe_only > probe.one_step_only
    assert report.verdict == "fail"
    (rule,) = [c for c in report.checks if c.rule == "require_valid"]
    assert rule.status == "fail"


def test_the_gap_probe_is_quiet_on_the_digits_cnn_and_costs_apart(cnn_model, digits_npz):
    report = _scan(cnn_model.torchscript, digits_npz, [0.05, 0.1])
    assert _gap(report).status == "ok"
    probe = report.validity.probe
    assert [r.eps for r in probe.results] == [0.05, 0.1]
    assert probe.evaluations > 0
    assert report.gradient.evaluations == 3  # one per batch: the probe's are its own
    off = _scan(cnn_model.torchscript, digits_npz, [0.1], gap_probe=False)
    assert _gap(off).status == "not_applicable" and off.validity.probe is None


def test_an_iterative_attack_needs_no_probe(cnn_model, digits_npz):
    report = _scan(cnn_model.torchscript, digits_npz, [0.1], attacks=["fgsm", "pgd:steps=3"])
    assert _gap(report).status == "not_applicable" and report.validity.probe is None
