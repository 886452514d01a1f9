"""The one versioned report. Every renderer reads this model and nothing else."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = "1.0"

Verdict = Literal["pass", "fail", "error"]
CheckStatus = Literal["pass", "warn", "fail", "error"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Interval(_Strict):
    lo: float
    hi: float


class ModelSection(_Strict):
    path: str
    sha256: str
    format: str
    output_kind: str
    output_kind_source: Literal["detected", "declared"]
    n_classes: int
    input_shape: list[int | None]


class DataSection(_Strict):
    path: str
    sha256: str
    format: str
    n_samples: int
    labels: Literal["provided", "predicted"]
    """``predicted``: the file had no labels and the model's clean predictions were used."""
    x_key: str
    y_key: str | None


class SettingsSection(_Strict):
    eps: list[float]
    attacks: list[str]
    batch_size: int
    seed: int
    high_confidence_threshold: float
    input_range: Interval | None
    input_range_source: Literal["declared", "default", "none"]


class ClassResult(_Strict):
    label: int
    n: int
    adversarial_errors: int
    adversarial_error_rate: float | None


class AttackResult(_Strict):
    attack: str
    eps: float
    n: int
    clean_error_rate: float
    adversarial_error_rate: float
    adversarial_error_rate_interval: Interval | None
    attack_success_rate: float | None
    """Fraction of clean-correct samples the attack made wrong; null when none were correct."""
    attack_success_rate_interval: Interval | None
    high_confidence_threshold: float
    high_confidence_misclassifications: int
    high_confidence_misclassification_rate: float
    high_confidence_misclassification_rate_interval: Interval | None
    high_confidence_misclassifications_at_0_5: int
    mean_confidence_adversarial_errors: float | None
    adversarial_errors: int
    clean_correct: int
    per_class: list[ClassResult]


class GradientSection(_Strict):
    evaluations: int
    """Forward+backward passes: one per batch, whatever the number of ε."""
    zero_gradient_samples: int
    """Samples whose input gradient is exactly zero everywhere: FGSM cannot move them."""
    max_abs_probability_difference: float
    """Differentiable path vs deployed runtime on the clean inputs."""
    top1_agreement: float


class Check(_Strict):
    rule: str
    attack: str | None = None
    eps: float | None = None
    observed: float | None
    limit: float
    status: CheckStatus
    message: str


class Versions(_Strict):
    robustcheck: str
    python: str
    numpy: str
    torch: str | None = None
    onnx: str | None = None
    onnxruntime: str | None = None


class Report(_Strict):
    schema_version: str = SCHEMA_VERSION
    complete: bool
    verdict: Verdict
    exit_code: int
    model: ModelSection
    data: DataSection
    settings: SettingsSection
    gradient: GradientSection
    results: list[AttackResult]
    checks: list[Check]
    warnings: list[str] = Field(default_factory=list)
    versions: Versions
    started_at: str
    duration_s: float
