"""A fixed, hand-built report that exercises every section of every renderer.

Two attacks × two ε, checks in all four states, class names (one with a table-breaking ``|``),
two example images, a warning and a fidelity section. Golden files under ``golden/`` are
rendered from it; regenerate them after an intended change with::

    ROBUSTCHECK_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/reports -p no:cacheprovider
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from robustcheck.reports.examples import make_example
from robustcheck.reports.model import (
    AttackResult,
    Check,
    ClassResult,
    DataSection,
    EnvironmentSection,
    ExampleImage,
    FidelitySection,
    GradientSection,
    HighConfidence,
    Interval,
    MinEpsSection,
    ModelSection,
    PolicySection,
    Report,
    SettingsSection,
    ValidityCheck,
    ValiditySection,
    Versions,
)

GOLDEN = Path(__file__).parent / "golden"
UPDATE_GOLDEN = os.environ.get("ROBUSTCHECK_UPDATE_GOLDEN") == "1"
CLASS_NAMES = ["cat", "dog", "plane|ship"]


def _classes(errors: list[int]) -> list[ClassResult]:
    return [
        ClassResult(
            label=i,
            class_name=CLASS_NAMES[i],
            n=40,
            clean_correct=39,
            adversarial_errors=k,
            adversarial_error_rate=k / 40,
            high_confidence_misclassifications=[k // 4, k // 2],
        )
        for i, k in enumerate(errors)
    ]


def _result(attack: str, eps: float, errors: int, ci: tuple[float, float], hc: int) -> AttackResult:
    n, clean_correct = 120, 117
    per_class = [errors // 3, errors // 3, errors - 2 * (errors // 3)]
    return AttackResult(
        attack=attack,
        eps=eps,
        n=n,
        clean_error_rate=(n - clean_correct) / n,
        adversarial_error_rate=errors / n,
        adversarial_error_rate_interval=Interval(lo=ci[0], hi=ci[1]),
        attack_success_rate=(errors - 3) / clean_correct,
        attack_success_rate_interval=Interval(lo=max(ci[0] - 0.03, 0.0), hi=ci[1] - 0.02),
        high_confidence_threshold=0.9,
        high_confidence_misclassifications=hc,
        high_confidence_misclassification_rate=hc / n,
        high_confidence_misclassification_rate_interval=Interval(lo=0.0, hi=(hc + 4) / n),
        high_confidence_misclassifications_at_0_5=2 * hc,
        mean_confidence_adversarial_errors=0.5 + errors / 400,
        adversarial_errors=errors,
        clean_correct=clean_correct,
        high_confidence=[
            HighConfidence(threshold=0.9, count=hc, rate=hc / n, interval=None),
            HighConfidence(threshold=0.5, count=2 * hc, rate=2 * hc / n, interval=None),
        ],
        per_class=_classes(per_class),
    )


def _checks() -> list[Check]:
    rule = "max_adversarial_error_rate"
    return [
        Check(
            rule=rule,
            attack="fgsm",
            eps=0.05,
            observed=0.25,
            limit=0.3,
            status="pass",
            message="fgsm adversarial error rate at eps=0.05 is 25.00% (<= limit 30.00%)",
        ),
        Check(
            rule=rule,
            attack="fgsm",
            eps=0.1,
            observed=0.45,
            limit=0.3,
            status="fail",
            message="fgsm adversarial error rate at eps=0.1 is 45.00% (> limit 30.00%)",
        ),
        Check(
            rule=rule,
            attack="noise",
            eps=0.2,
            observed=None,
            limit=0.1,
            status="error",
            message="no noise result at eps=0.2",
        ),
        Check(
            rule="max_class_adversarial_error_rate",
            attack="fgsm",
            eps=0.1,
            label=2,
            class_name="plane|ship",
            severity="warn",
            gate_on="upper_bound",
            observed=0.62,
            limit=0.5,
            status="warn",
            message="class 2 (plane|ship): upper bound 62.00% > limit 50.00%",
        ),
    ]


def _examples() -> list[ExampleImage]:
    digit = (np.arange(64, dtype=np.float32).reshape(1, 8, 8) % 17) / 16
    sign = np.where(np.arange(64).reshape(1, 8, 8) % 3 == 0, 1.0, -1.0)
    rgb = np.linspace(0, 1, 48, dtype=np.float32).reshape(3, 4, 4)
    first = make_example(7, 0, 0.1, digit, np.clip(digit + 0.1 * sign, 0, 1), 0, 0.97, 1, 0.91)
    second = make_example(
        12, 2, 0.05, rgb, np.clip(rgb - 0.05 * sign[:, :4, :4], 0, 1), 2, 0.88, 1, 0.64
    )
    assert first is not None and second is not None
    return [first, second]


def build_report() -> Report:
    return Report(
        complete=True,
        verdict="error",
        exit_code=3,
        model=ModelSection(
            path="models/classifier.onnx",
            sha256="0123456789abcdef" * 4,
            format="onnx",
            output_kind="logits",
            output_kind_source="detected",
            n_classes=3,
            input_shape=[None, 1, 8, 8],
        ),
        data=DataSection(
            path="data/test.npz",
            sha256="fedcba9876543210" * 4,
            format="npz",
            n_samples=120,
            labels="provided",
            x_key="x",
            y_key="y",
            class_names=CLASS_NAMES,
        ),
        settings=SettingsSection(
            eps=[0.05, 0.1],
            attacks=["fgsm", "noise"],
            batch_size=64,
            seed=0,
            high_confidence_threshold=0.9,
            input_range=Interval(lo=0.0, hi=1.0),
            input_range_source="default",
        ),
        gradient=GradientSection(evaluations=2, zero_gradient_samples=1),
        fidelity=FidelitySection(
            paths="onnx-twin-vs-onnxruntime",
            clean_max_abs_probability_difference=2.5e-7,
            clean_top1_agreement=1.0,
            adversarial_max_abs_probability_difference=4.1e-7,
            adversarial_top1_agreement=1.0,
            tolerance=1e-3,
            trusted=True,
        ),
        results=[
            _result("fgsm", 0.05, 30, (0.18, 0.33), 4),
            _result("fgsm", 0.1, 54, (0.36, 0.54), 12),
            _result("noise", 0.05, 4, (0.013, 0.083), 0),
            _result("noise", 0.1, 6, (0.023, 0.105), 1),
        ],
        checks=_checks(),
        policy=PolicySection(
            source="policy.yaml",
            sha256="ab" * 32,
            resolved={"version": 1, "budgets": [{"eps": 0.1, "max_adversarial_error_rate": 0.3}]},
        ),
        examples=_examples(),
        validity=ValiditySection(
            reliable=False,
            checks=[
                ValidityCheck(
                    name="beats_noise",
                    status="flagged",
                    attack="fgsm",
                    eps=0.05,
                    reason="fgsm at ε=0.05 is no stronger than random noise of the same size",
                ),
                ValidityCheck(name="error_rises_with_eps", status="ok", reason="never falls"),
                ValidityCheck(
                    name="iterative_not_weaker", status="not_applicable", reason="no pgd"
                ),
            ],
        ),
        min_eps=MinEpsSection(
            method="bisection along the FGSM direction, scored on the deployed runtime",
            eps_max=0.1,
            resolution=0.1 / 1024,
            n=100,
            clean_errors=6,
            not_found=46,
            median=0.0875,
            percentiles={"p10": 0.0, "p25": 0.05, "p50": 0.0875, "p75": None},
            histogram=[6, 0, 4, 10, 14, 20],
        ),
        warnings=["no --input-range: assuming [0, 1] because the data lies in it"],
        versions=Versions(
            robustcheck="0.1.0", python="3.11.7", numpy="2.0.0", onnx="1.17.0", onnxruntime="1.20.1"
        ),
        environment=EnvironmentSection(device="cpu", threads=4, deterministic=True),
        started_at="2025-01-02T03:04:05+00:00",
        duration_s=12.345,
    )


HOSTILE_PATH = "models/<script>alert(1)</script>|`x`\n::error::pwned\x1b[31m.onnx"
HOSTILE_CLASS = "</td><script>alert(2)</script>"
HOSTILE_WARNING = (
    "::set-output name=x::y\n# title <img src=x onerror=alert(3)> ##vso[task.complete]"
)
ILLEGAL = "nul\x00 bell\x07 esc\x1b del\x7f nonchar\ufffe\uffff surrogate\ud800 end"


def hostile(report: Report) -> Report:
    """The report with script, Markdown and CI-command injections in every user string."""
    raw = report.model_dump()
    raw["model"]["path"] = HOSTILE_PATH
    raw["data"]["path"] = "# data\r\n::warning::x"
    raw["data"]["class_names"] = ["cat", "dog", HOSTILE_CLASS]
    for result in raw["results"]:
        result["per_class"][2]["class_name"] = HOSTILE_CLASS
    raw["checks"][1]["message"] = f"`code` | pipe <b>bold</b> {ILLEGAL}"
    raw["checks"][3]["class_name"] = HOSTILE_CLASS
    raw["warnings"] = [HOSTILE_WARNING, ILLEGAL]
    return Report.model_validate(raw)


@pytest.fixture
def report() -> Report:
    return build_report()


@pytest.fixture
def hostile_report() -> Report:
    return hostile(build_report())


@pytest.fixture
def golden() -> Callable[[str, str], None]:
    """``golden(name, text)``: compare with ``golden/name`` (or rewrite it when updating)."""

    def check(name: str, text: str) -> None:
        path = GOLDEN / name
        if UPDATE_GOLDEN:
            path.write_text(text, encoding="utf-8", newline="")
            return
        assert path.exists(), f"missing {path}: rerun with ROBUSTCHECK_UPDATE_GOLDEN=1"
        expected = path.read_bytes().decode("utf-8")
        assert text == expected, f"{name} differs from its golden file (see the module docstring)"

    return check
