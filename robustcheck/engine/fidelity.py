"""How closely the differentiable path agrees with the deployed runtime.

For ONNX models gradients come from a torch twin of the graph while every prediction comes from
onnxruntime; the report certifies how far apart the two are, and the verdict becomes ``error``
beyond a tolerance (the gradients would not be the deployed model's).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from robustcheck.backends.base import ModelInfo
from robustcheck.reports.model import FidelitySection

DEFAULT_TOLERANCE = 1e-3
FLOAT16_TOLERANCE = 1e-2
"""float16 models are differentiated through a float32 twin: rounding alone differs by ~1e-3."""
BF16_TOLERANCE = 5e-2
"""``--precision bf16`` rounds the gradient pass's products to 8 significant bits: on the digits
CNN its probabilities differ from the deployed float32 ones by 0.02 (deeper models drift more).
Beyond 0.05 the bfloat16 gradients are not the deployed model's, whatever was asked. The same
holds the other way round for a bfloat16 model differentiated through its float32 copy."""


@dataclass
class Agreement:
    """Differentiable path vs deployed runtime, accumulated over compared samples."""

    max_abs_diff: float = 0.0
    top1_agree: int = 0
    n: int = 0

    def add(self, differentiable: np.ndarray, deployed: np.ndarray) -> None:
        with np.errstate(invalid="ignore"):
            diff = np.abs(differentiable - deployed)
        worst = float(np.max(diff)) if diff.size else 0.0
        self.max_abs_diff = max(self.max_abs_diff, worst if np.isfinite(worst) else np.inf)
        agree = np.argmax(differentiable, axis=1) == np.argmax(deployed, axis=1)
        self.top1_agree += int(agree.sum())
        self.n += int(deployed.shape[0])

    def merge(self, other: Agreement) -> Agreement:
        return Agreement(
            max_abs_diff=max(self.max_abs_diff, other.max_abs_diff),
            top1_agree=self.top1_agree + other.top1_agree,
            n=self.n + other.n,
        )

    @property
    def top1(self) -> float:
        return self.top1_agree / self.n if self.n else 1.0


def tolerance_for(info: ModelInfo, declared: float | None, precision: str = "fp32") -> float:
    if declared is not None:
        return declared
    if precision == "bf16" or info.input_dtype == "bfloat16":
        return BF16_TOLERANCE
    return FLOAT16_TOLERANCE if info.input_dtype == "float16" else DEFAULT_TOLERANCE


def fidelity_section(
    info: ModelInfo, clean: Agreement, adversarial: Agreement, tolerance: float
) -> FidelitySection:
    if clean.n == 0 and adversarial.n == 0:  # no gradient was taken: nothing to certify
        return FidelitySection(
            paths="none",
            clean_max_abs_probability_difference=None,
            clean_top1_agreement=None,
            adversarial_max_abs_probability_difference=None,
            adversarial_top1_agreement=None,
            tolerance=tolerance,
            trusted=True,
        )
    worst = max(clean.max_abs_diff, adversarial.max_abs_diff)
    if info.differentiable_path == "surrogate-vs-target":
        tolerance = 1.0  # another model by design: its agreement is reported, never a limit
    return FidelitySection(
        paths=info.differentiable_path,  # type: ignore[arg-type]
        clean_max_abs_probability_difference=clean.max_abs_diff,
        clean_top1_agreement=clean.top1,
        adversarial_max_abs_probability_difference=adversarial.max_abs_diff
        if adversarial.n
        else None,
        adversarial_top1_agreement=adversarial.top1 if adversarial.n else None,
        tolerance=tolerance,
        trusted=worst <= tolerance,
    )
