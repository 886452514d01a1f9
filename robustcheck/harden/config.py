"""What ``robustcheck harden`` needs to know, validated once, before anything heavy is imported."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from robustcheck.policy.schema import Policy
from robustcheck.vocabulary import Layout

DEFAULT_REPORT_ATTACKS = ("fgsm", "pgd:steps=10")


class HardenConfig(BaseModel):
    # protected_namespaces: pydantic < 2.10 warns about the field model_format otherwise.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, protected_namespaces=())

    model: Path
    data: Path
    output: Path
    eps: float = Field(gt=0)
    """The training budget, in raw data units."""
    alpha: float = Field(default=0.5, ge=0, le=1)
    """Weight of the clean loss: J̃ = α·J(x) + (1 − α)·J(x_adv)."""
    attack: str = "fgsm"
    """How the training examples are made (``fgsm``, or ``pgd:steps=7`` for Madry-style)."""
    epochs: int = Field(default=5, ge=1, le=10_000)
    lr: float = Field(default=1e-3, gt=0)
    optimizer: Literal["adam", "sgd"] = "adam"
    schedule: Literal["constant", "cosine"] = "constant"
    batch_size: int = Field(default=64, ge=1)
    seed: int = 0
    val: Path | None = None
    val_fraction: float = Field(default=0.2, gt=0, lt=1)
    """Without ``val``: the share of the data held out (seeded) for early stopping and the report."""
    patience: int | None = Field(default=None, ge=1)
    """Stop after this many epochs without a lower validation FGSM error (the best epoch is kept)."""
    checkpoint: Path | None = None
    max_clean_drop: float = Field(default=0.03, ge=0, le=1)
    scan_eps: list[float] = Field(default_factory=list)
    """More ε for the before/after scans (the training ε and the policy's are always scanned)."""
    report_attacks: list[str] = Field(default_factory=lambda: list(DEFAULT_REPORT_ATTACKS))
    policy: Policy | None = None
    policy_source: str | None = None
    input_range: tuple[float, float] | None = None
    mean: list[float] | None = None
    std: list[float] | None = None
    layout: Layout = "NCHW"
    model_format: str | None = None
    x_key: str = "x"
    y_key: str | None = None
    """The label array; ``None``: ``y`` (or the format's default), and a file without one is refused."""
    allow_low_accuracy: bool = False

    @field_validator("scan_eps")
    @classmethod
    def _positive(cls, eps: list[float]) -> list[float]:
        if any(e <= 0 for e in eps):
            raise ValueError("every eps must be greater than 0")
        return sorted(set(eps))

    @field_validator("input_range")
    @classmethod
    def _ordered(cls, rng: tuple[float, float] | None) -> tuple[float, float] | None:
        if rng is not None and not rng[0] < rng[1]:
            raise ValueError("LO must be less than HI")
        return rng

    @field_validator("std")
    @classmethod
    def _positive_std(cls, std: list[float] | None) -> list[float] | None:
        if std is not None and any(s <= 0 for s in std):
            raise ValueError("every std must be greater than 0")
        return std
