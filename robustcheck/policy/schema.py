"""Policy schema. Unknown keys are errors: a typo must never loosen a gate silently."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Budget(_Strict):
    eps: float = Field(gt=0, description="L∞ budget in raw data units.")
    attack: Literal["fgsm", "noise"] = "fgsm"
    max_adversarial_error_rate: float | None = Field(
        default=None, ge=0, le=1, description="Fail when the adversarial error rate exceeds this."
    )


class Policy(_Strict):
    version: Literal[1] = 1
    budgets: list[Budget] = Field(min_length=1)


def max_error_rate_policy(eps: list[float], limit: float) -> Policy:
    """The policy behind ``--max-error-rate``: one FGSM budget per ε."""
    return Policy(budgets=[Budget(eps=e, max_adversarial_error_rate=limit) for e in eps])
