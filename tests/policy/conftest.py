"""Hand-built results and policy files for the policy tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from robustcheck.metrics import wilson_interval
from robustcheck.reports.model import (
    AttackResult,
    ClassResult,
    DataSection,
    EnvironmentSection,
    FidelitySection,
    GradientSection,
    HighConfidence,
    Interval,
    ModelSection,
    Report,
    SettingsSection,
    Versions,
)

TRACKED = (0.9, 0.5)


def _interval(k: int, n: int) -> Interval | None:
    bounds = wilson_interval(k, n)
    return None if bounds is None else Interval(lo=bounds[0], hi=bounds[1])


def make_class(
    label: int,
    *,
    n: int = 10,
    clean_correct: int = 10,
    errors: int = 0,
    high_confidence: tuple[int, ...] = (0, 0),
    name: str | None = None,
) -> ClassResult:
    return ClassResult(
        label=label,
        class_name=name,
        n=n,
        clean_correct=clean_correct,
        adversarial_errors=errors,
        adversarial_error_rate=errors / n if n else None,
        high_confidence_misclassifications=list(high_confidence),
    )


def make_result(
    *,
    attack: str = "fgsm",
    eps: float = 0.1,
    n: int = 100,
    clean_correct: int = 100,
    adversarial_errors: int = 0,
    flipped: int | None = None,
    high_confidence: tuple[int, ...] = (0, 0),
    thresholds: tuple[float, ...] = TRACKED,
    per_class: list[ClassResult] | None = None,
) -> AttackResult:
    """An internally consistent result from counts (``flipped`` defaults to every new error)."""
    if flipped is None:
        flipped = min(clean_correct, adversarial_errors - (n - clean_correct))
        flipped = max(flipped, 0)
    hc = dict(zip(thresholds, high_confidence, strict=True))
    return AttackResult(
        attack=attack,
        eps=eps,
        n=n,
        clean_error_rate=(n - clean_correct) / n,
        adversarial_error_rate=adversarial_errors / n,
        adversarial_error_rate_interval=_interval(adversarial_errors, n),
        attack_success_rate=flipped / clean_correct if clean_correct else None,
        attack_success_rate_interval=_interval(flipped, clean_correct),
        high_confidence_threshold=thresholds[0],
        high_confidence_misclassifications=high_confidence[0],
        high_confidence_misclassification_rate=high_confidence[0] / n,
        high_confidence_misclassification_rate_interval=_interval(high_confidence[0], n),
        high_confidence_misclassifications_at_0_5=hc.get(0.5, 0),
        mean_confidence_adversarial_errors=None,
        adversarial_errors=adversarial_errors,
        clean_correct=clean_correct,
        high_confidence=[
            HighConfidence(threshold=t, count=k, rate=k / n, interval=_interval(k, n))
            for t, k in hc.items()
        ],
        per_class=per_class if per_class is not None else [make_class(0, n=n)],
    )


def make_report(results: list[AttackResult]) -> Report:
    """A complete report around ``results``, as a ``--baseline`` would load it."""
    return Report(
        complete=True,
        verdict="pass",
        exit_code=0,
        model=ModelSection(
            path="m.onnx",
            sha256="0" * 64,
            format="onnx",
            output_kind="logits",
            output_kind_source="detected",
            n_classes=2,
            input_shape=[None, 4],
        ),
        data=DataSection(
            path="d.npz",
            sha256="0" * 64,
            format="npz",
            n_samples=results[0].n if results else 0,
            labels="provided",
            x_key="x",
            y_key="y",
        ),
        settings=SettingsSection(
            eps=sorted({r.eps for r in results}),
            attacks=sorted({r.attack for r in results}),
            batch_size=256,
            seed=0,
            high_confidence_threshold=0.9,
            input_range=None,
            input_range_source="none",
        ),
        gradient=GradientSection(evaluations=1, zero_gradient_samples=0),
        fidelity=FidelitySection(
            paths="same-module",
            clean_max_abs_probability_difference=0.0,
            clean_top1_agreement=1.0,
            adversarial_max_abs_probability_difference=None,
            adversarial_top1_agreement=None,
            tolerance=1e-3,
            trusted=True,
        ),
        results=results,
        checks=[],
        versions=Versions(robustcheck="0", python="3", numpy="1"),
        environment=EnvironmentSection(device="cpu", threads=1, deterministic=True),
        started_at="2025-01-01T00:00:00+00:00",
        duration_s=0.0,
    )


@pytest.fixture
def write_policy(tmp_path: Path) -> Callable[..., Path]:
    """Write YAML text to ``tmp_path/name`` and return the path."""

    def write(text: str, name: str = "policy.yaml") -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    return write


@pytest.fixture(name="make_result")
def _make_result() -> Callable[..., AttackResult]:
    return make_result


@pytest.fixture(name="make_class")
def _make_class() -> Callable[..., ClassResult]:
    return make_class


@pytest.fixture(name="make_report")
def _make_report() -> Callable[..., Report]:
    return make_report
