"""End to end: a trained digits CNN gated by policies, as a CI job would run it."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import xmlschema

from robustcheck.cli import main

XSD = Path(__file__).resolve().parents[1] / "reports" / "junit.xsd"
LENIENT = """\
version: 1
min_clean_accuracy: 0.5
budgets:
  - eps: 0.1
    max_adversarial_error_rate: 0.95
    max_increase:
      adversarial_error_rate: 0.02
"""


def _run(capsys, *args):
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_strict_policy_fails_and_names_the_rules_everywhere(
    capsys, cnn_model, digits_npz, tmp_path
):
    junit, md = tmp_path / "junit.xml", tmp_path / "summary.md"
    code, out, err = _run(
        capsys,
        "scan",
        cnn_model.torchscript,
        "--data",
        digits_npz,
        "--eps",
        "0.1",
        "--policy",
        "builtin:strict",
        "--limit",  # strict runs auto (AutoAttack's chain): a sample keeps it quick
        "40",
        "--junit",
        junit,
        "--markdown",
        md,
    )
    assert code == 1, err
    assert "verdict: FAIL (exit 1)" in out
    failing = [line for line in out.splitlines() if line.startswith("FAIL")]
    assert any("adversarial error rate" in line for line in failing)
    xmlschema.XMLSchema(str(XSD)).validate(str(junit))  # what Jenkins' JUnit plugin accepts
    failures = ET.parse(junit).getroot().iter("failure")
    assert any("adversarial" in (f.get("message") or "") + (f.text or "") for f in failures)
    assert "FAIL" in md.read_text() and "adversarial error rate" in md.read_text()


def test_lenient_policy_passes(capsys, cnn_model, digits_npz, tmp_path):
    policy = tmp_path / "lenient.yaml"
    policy.write_text(LENIENT)
    report = tmp_path / "r.json"
    code, _out, err = _run(
        capsys,
        "scan",
        cnn_model.torchscript,
        "--data",
        digits_npz,
        "--policy",
        policy,
        "--json",
        report,
    )
    assert code == 0, err
    data = json.loads(report.read_text())
    assert data["settings"]["eps"] == [0.1]  # the policy's budget supplied the ε
    assert data["policy"]["source"] == str(policy)
    assert len(data["policy"]["sha256"]) == 64


def test_baseline_flags_an_injected_regression(capsys, cnn_model, digits_npz, tmp_path):
    policy = tmp_path / "lenient.yaml"
    policy.write_text(LENIENT)
    baseline = tmp_path / "baseline.json"
    assert (
        _run(
            capsys,
            "scan",
            cnn_model.torchscript,
            "--data",
            digits_npz,
            "--policy",
            policy,
            "--json",
            baseline,
        )[0]
        == 0
    )
    # Same model, same data: comparing with itself passes.
    assert (
        _run(
            capsys,
            "scan",
            cnn_model.torchscript,
            "--data",
            digits_npz,
            "--policy",
            policy,
            "--baseline",
            baseline,
        )[0]
        == 0
    )
    # Pretend the previous release was much more robust: now the rise exceeds 2 points.
    data = json.loads(baseline.read_text())
    for result in data["results"]:
        result["adversarial_error_rate"] = max(0.0, result["adversarial_error_rate"] - 0.1)
    baseline.write_text(json.dumps(data))
    code, out, _ = _run(
        capsys,
        "scan",
        cnn_model.torchscript,
        "--data",
        digits_npz,
        "--policy",
        policy,
        "--baseline",
        baseline,
    )
    assert code == 1
    assert any(line.startswith("FAIL") and "vs baseline" in line for line in out.splitlines())


def test_exit_zero_and_strict(capsys, cnn_model, digits_npz, tmp_path):
    args = ["scan", cnn_model.torchscript, "--data", digits_npz, "--eps", "0.1"]
    strict = ["--policy", "builtin:strict", "--limit", "20", "--exit-zero"]
    assert _run(capsys, *args, *strict)[0] == 0
    code, out, _ = _run(capsys, *args, "--report-only")  # the default policy fails at this ε
    assert code == 0 and "FAIL" in out and "verdict: FAIL (exit 1)" not in out
    warns = tmp_path / "warns.yaml"
    warns.write_text(
        "version: 1\nall_eps:\n  max_attack_success_rate: {limit: 0.01, severity: warn}\n"
    )
    code, out, _ = _run(capsys, *args, "--policy", warns)
    assert code == 0 and "WARN" in out
    assert _run(capsys, *args, "--policy", warns, "--strict")[0] == 1


def test_the_default_policy_gates_and_says_it_judged(capsys, cnn_model, digits_npz, tmp_path):
    """`robustcheck scan model --eps 0.1` without a policy fails a model FGSM mostly fools."""
    report = tmp_path / "r.json"
    args = ["scan", cnn_model.torchscript, "--data", digits_npz, "--eps", "0.1", "--json", report]
    code, out, _ = _run(capsys, *args)
    assert code == 1
    assert "FAIL   fgsm eps=0.1: attack success rate" in out
    assert "policy builtin:default (the default, as no policy was given" in out
    assert json.loads(report.read_text())["policy"]["source"] == "default"
    markdown = tmp_path / "r.md"
    assert _run(capsys, "report", "render", report, "--markdown", markdown)[0] == 0
    assert "Judged by policy builtin:default (the default" in markdown.read_text()


def test_policy_errors_are_input_errors(capsys, cnn_model, digits_npz, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nbudgets:\n  - eps: -0.1\n    max_adversarial_error_rate: 0.3\n")
    code, _, err = _run(
        capsys, "scan", cnn_model.torchscript, "--data", digits_npz, "--policy", bad
    )
    assert code == 3 and "budgets[0].eps" in err and len(err.strip().splitlines()) == 1
    code, _, err = _run(
        capsys,
        "scan",
        cnn_model.torchscript,
        "--data",
        digits_npz,
        "--policy",
        bad,
        "--max-error-rate",
        "0.3",
    )
    assert code == 2
