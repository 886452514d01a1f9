"""Policy schema (version 1).

Strict on purpose: unknown keys, strings where numbers belong, NaN and infinity are all errors,
because a typo in a CI gate must never loosen it silently.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from robustcheck.attacks.spec import parse_attack_spec
from robustcheck.vocabulary import DeployedDtype, GateOn, Layout, Severity

ANY_ATTACK = "*"
"""In a rule, every attack that ran on the ε sweep except the noise baseline: each is judged on
its own, so the worst one decides."""
_ATTACK_LABEL = r"^(\*|[a-z][a-z0-9_-]{0,39})$"


def _attack_label(value: str) -> str:
    if not re.match(_ATTACK_LABEL, value):
        raise ValueError(
            f"expected an attack's label (a lower-case name such as pgd) or * for every attack "
            f"that ran, got {_short(value)}"
        )
    return value


Attack = Annotated[
    str, AfterValidator(_attack_label), Field(json_schema_extra={"pattern": _ATTACK_LABEL})
]
"""An attack's label in the scan: a built-in (`fgsm`, `pgd`, `apgd`, `square`, `spsa`, `noise`, ...), a plugin's name, a `label=`, or `*` for every attack that ran."""

DEFAULT_THRESHOLD = 0.9
FRAGMENT = "fragment"
"""Validation context key: set for a file that ``extends`` another, which may be partial."""

_SEVERITY = "`fail` (default) fails the gate; `warn` only reports (fails under --strict)."
_GATE_ON = (
    "`point` (default) compares the measured rate; `upper_bound` compares the upper end of its "
    "95 % Wilson interval, so a small sample cannot pass by luck."
)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_fragment(info: ValidationInfo) -> bool:
    return bool(info.context and info.context.get(FRAGMENT))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True, frozen=True)


class Limit(_Strict):
    """A limit on a rate (a fraction in [0, 1])."""

    limit: float = Field(ge=0, le=1, description="The largest (or, for a minimum, smallest) rate.")
    severity: Severity = Field(default="fail", description=_SEVERITY)
    gate_on: GateOn = Field(default="point", description=_GATE_ON)


class IncreaseLimit(_Strict):
    """How far a rate may rise above the baseline report's (in rate units: 0.02 = 2 points)."""

    limit: float = Field(ge=0, le=1, description="Largest allowed rise, e.g. 0.02 = 2 points.")
    severity: Severity = Field(default="fail", description=_SEVERITY)


def _bare_limit(value: Any) -> Any:
    """``0.3`` is shorthand for ``{limit: 0.3}``."""
    if _is_number(value):
        return {"limit": value}
    if isinstance(value, (dict, BaseModel)):
        return value
    raise ValueError(f"expected a number or a mapping with `limit`, got {_short(value)}")


_Rate = Annotated[float, Field(ge=0, le=1)]
LimitSpec = Annotated[Limit, BeforeValidator(_bare_limit, json_schema_input_type=_Rate | Limit)]
IncreaseSpec = Annotated[
    IncreaseLimit, BeforeValidator(_bare_limit, json_schema_input_type=_Rate | IncreaseLimit)
]


class HighConfidenceLimit(_Strict):
    """Adversarial errors whose top probability is at least ``threshold``."""

    threshold: float = Field(
        default=DEFAULT_THRESHOLD,
        gt=0,
        le=1,
        description="τ: an adversarial error counts when its top probability is ≥ τ.",
    )
    count: int | None = Field(default=None, ge=0, description="Largest allowed number of them.")
    rate: float | None = Field(
        default=None, ge=0, le=1, description="Largest allowed fraction of all samples."
    )
    severity: Severity = Field(default="fail", description=_SEVERITY)
    gate_on: GateOn = Field(default="point", description=_GATE_ON + " Applies to `rate` only.")

    @model_validator(mode="after")
    def _count_or_rate(self) -> HighConfidenceLimit:
        if self.count is None and self.rate is None:
            raise ValueError("set `count`, `rate` or both")
        if self.gate_on == "upper_bound" and self.rate is None:
            raise ValueError("`gate_on: upper_bound` needs `rate`: a count has no interval")
        return self


def _mapping(value: Any) -> Any:
    if isinstance(value, (dict, BaseModel)):
        return value
    raise ValueError(
        f"expected a mapping such as {{count: 0, threshold: 0.9}} or {{rate: 0.01}}, got {_short(value)}"
    )


HighConfidenceSpec = Annotated[
    HighConfidenceLimit, BeforeValidator(_mapping, json_schema_input_type=HighConfidenceLimit)
]


class MaxIncrease(_Strict):
    """Limits on regressions against the ``--baseline`` report at the same attack and ε."""

    adversarial_error_rate: IncreaseSpec | None = None
    attack_success_rate: IncreaseSpec | None = None
    accuracy_drop: IncreaseSpec | None = None

    @model_validator(mode="after")
    def _not_empty(self, info: ValidationInfo) -> MaxIncrease:
        if not _is_fragment(info) and not any(
            getattr(self, name) is not None for name in type(self).model_fields
        ):
            raise ValueError("set at least one of " + ", ".join(type(self).model_fields))
        return self


def _class_key(value: Any) -> Any:
    if isinstance(value, bool):
        raise ValueError("got a boolean: quote class names such as 'true' or 'false'")
    if isinstance(value, (str, int)):
        return value
    raise ValueError(f"expected a class name (string) or an integer label, got {_short(value)}")


class ClassRules(_Strict):
    """Limits for the samples of one true class."""

    class_: Annotated[str | int, BeforeValidator(_class_key)] = Field(
        alias="class", description="A class name (from the data) or an integer label."
    )
    max_adversarial_error_rate: LimitSpec | None = Field(
        default=None, description="Fraction of this class's samples wrong after the attack."
    )
    max_high_confidence_misclassifications: HighConfidenceSpec | None = Field(
        default=None, description="This class's samples misclassified with confidence ≥ τ."
    )

    @field_validator("class_")
    @classmethod
    def _label_not_negative(cls, value: str | int) -> str | int:
        if isinstance(value, int) and value < 0:
            raise ValueError("a label is at least 0")
        if isinstance(value, str) and not value:
            raise ValueError("a class name is not empty")
        return value

    @model_validator(mode="after")
    def _not_empty(self, info: ValidationInfo) -> ClassRules:
        if not _is_fragment(info) and _unset(self, ("class_",)):
            raise ValueError(
                "set max_adversarial_error_rate or max_high_confidence_misclassifications"
            )
        return self


_RULES = (
    "max_adversarial_error_rate",
    "max_attack_success_rate",
    "max_high_confidence_misclassifications",
    "max_accuracy_drop",
    "per_class",
    "max_increase",
)


def _unset(model: BaseModel, keep: tuple[str, ...]) -> bool:
    return all(getattr(model, n) is None for n in type(model).model_fields if n not in keep)


class Rules(_Strict):
    """The limits one attack must meet at one ε."""

    attack: Attack = Field(
        default="fgsm",
        description="The attack these limits apply to (its label: fgsm, pgd, apgd, square, noise, a "
        "plugin's, ...), or `*`: each attack that ran on the ε sweep except the noise baseline, "
        "judged on its own (the worst one decides).",
    )
    max_adversarial_error_rate: LimitSpec | None = Field(
        default=None, description="Fraction of all samples wrong after the attack."
    )
    max_attack_success_rate: LimitSpec | None = Field(
        default=None, description="Fraction of clean-correct samples the attack made wrong."
    )
    max_high_confidence_misclassifications: HighConfidenceSpec | None = Field(
        default=None, description="Adversarial errors with confidence ≥ τ: a count and/or rate."
    )
    max_accuracy_drop: LimitSpec | None = Field(
        default=None, description="Clean accuracy minus adversarial accuracy."
    )
    per_class: list[ClassRules] | None = Field(
        default=None, min_length=1, description="Limits for the samples of single classes."
    )
    max_increase: MaxIncrease | None = Field(
        default=None, description="Regression limits against the --baseline report."
    )

    @field_validator("per_class")
    @classmethod
    def _unique_classes(cls, entries: list[ClassRules] | None) -> list[ClassRules] | None:
        seen: set[str | int] = set()
        for i, entry in enumerate(entries or []):
            if entry.class_ in seen:
                raise ValueError(f"entry {i} repeats class {_short(entry.class_)}: merge them")
            seen.add(entry.class_)
        return entries

    @model_validator(mode="after")
    def _not_empty(self, info: ValidationInfo) -> Rules:
        if not _is_fragment(info) and _unset(self, ("attack", "eps")):
            raise ValueError("set at least one rule: " + ", ".join(_RULES))
        return self

    def high_confidence_thresholds(self) -> set[float]:
        limits = [self.max_high_confidence_misclassifications]
        limits += [c.max_high_confidence_misclassifications for c in self.per_class or []]
        return {limit.threshold for limit in limits if limit is not None}


class AllEps(Rules):
    """Limits for every scanned ε that has no budget of its own."""


class Budget(Rules):
    """Limits at one ε, or (text models) at one number of substituted tokens."""

    eps: float | None = Field(default=None, gt=0, description="L∞ budget in raw data units.")
    tokens: int | None = Field(
        default=None,
        ge=1,
        le=64,
        description="Text models: at most this many substituted tokens per text (the `hotflip` "
        "attack, which is then the default `attack`).",
    )

    @model_validator(mode="before")
    @classmethod
    def _token_attack(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("tokens") is not None and "attack" not in data:
            return {**data, "attack": "hotflip"}
        return data

    @model_validator(mode="after")
    def _one_budget(self, info: ValidationInfo) -> Budget:
        if (self.eps is None) == (self.tokens is None) and not (
            _is_fragment(info) and self.eps is None
        ):
            raise ValueError("set exactly one of eps (an L∞ budget) and tokens (a token budget)")
        return self

    @property
    def value(self) -> float:
        """The budget as results key it: ε, or the token count."""
        return float(self.tokens) if self.tokens is not None else float(self.eps or 0.0)


_Range = Annotated[list[float], Field(min_length=2, max_length=2)]


class InputContract(_Strict):
    """How the model expects its input (validated here; used by the data pipeline)."""

    layout: Layout | None = Field(default=None, description="Axis order.")
    input_range: _Range | None = Field(
        default=None, description="[lo, hi]: the valid input domain."
    )
    mean: list[float] | None = Field(
        default=None, min_length=1, description="Per-channel mean subtracted."
    )
    std: list[Annotated[float, Field(gt=0)]] | None = Field(
        default=None, min_length=1, description="Per-channel std divided by (each > 0)."
    )
    image_size: list[Annotated[int, Field(ge=1)]] | None = Field(
        default=None, min_length=2, max_length=2, description="[height, width] in pixels."
    )
    deployed_dtype: DeployedDtype | None = Field(
        default=None, description="The dtype the deployed model receives."
    )

    @model_validator(mode="after")
    def _consistent(self) -> InputContract:
        if self.input_range is not None and not self.input_range[0] < self.input_range[1]:
            raise ValueError("input_range: lo must be less than hi")
        if self.mean is not None and self.std is not None and len(self.mean) != len(self.std):
            raise ValueError(
                f"mean has {len(self.mean)} values but std has {len(self.std)}: one per channel"
            )
        return self


class MinEpsRules(_Strict):
    """Smallest acceptable per-sample minimal ε (raw units), by percentile of the samples."""

    median: float | None = Field(default=None, gt=0, description="Median minimal ε at least this.")
    p10: float | None = Field(default=None, gt=0, description="10th percentile at least this.")
    p25: float | None = Field(default=None, gt=0, description="25th percentile at least this.")
    severity: Severity = Field(default="fail", description=_SEVERITY)

    @model_validator(mode="after")
    def _not_empty(self) -> MinEpsRules:
        if self.median is None and self.p10 is None and self.p25 is None:
            raise ValueError("set median, p10 or p25")
        return self


class CertifyRules(_Strict):
    """Certification (``--certify``) and limits on what it proves, at every certified ε."""

    method: Literal["ibp", "crown"] = Field(
        default="crown", description="Bound propagation: crown (tighter) or ibp (faster)."
    )
    min_certified_accuracy: LimitSpec | None = Field(
        default=None, description="Smallest share of all samples proven robust at each ε."
    )
    max_certification_gap: LimitSpec | None = Field(
        default=None,
        description="Largest gap between the strongest attack's robust accuracy and the "
        "certified accuracy at each ε (what neither the proof nor the attacks decided).",
    )
    eps: list[Annotated[float, Field(gt=0)]] | None = Field(
        default=None,
        min_length=1,
        description="The ε the limits apply to (default: every scanned ε); they are scanned too.",
    )


def _attack_spec(value: Any) -> Any:
    if not isinstance(value, str):
        raise ValueError(f"expected an attack such as 'pgd:steps=20', got {_short(value)}")
    try:
        parse_attack_spec(value, where="attack")
    except Exception as exc:  # UsageError: reported as a located policy error
        raise ValueError(str(exc)) from None
    return value


def _schema_extra(schema: dict[str, Any]) -> None:
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "robustcheck policy"
    schema["required"] = ["version"]


class Policy(_Strict):
    """ε budgets and the limits a scan must meet (see docs/policies.md)."""

    model_config = ConfigDict(json_schema_extra=_schema_extra)

    version: Literal[1] = Field(default=1, description="Schema version: always 1.")
    extends: str | None = Field(
        default=None,
        min_length=1,
        description="A policy to start from: a path relative to this file, or builtin:NAME.",
    )
    description: str | None = Field(default=None, max_length=2000, description="Free text.")
    min_clean_accuracy: LimitSpec | None = Field(
        default=None,
        description="Smallest clean accuracy; `gate_on: upper_bound` compares the interval's lower end.",
    )
    all_eps: AllEps | None = Field(
        default=None, description="Limits for every scanned ε without a budget of its own."
    )
    budgets: list[Budget] | None = Field(
        default=None, min_length=1, description="Limits at named ε (scanned in addition to --eps)."
    )
    input: InputContract | None = Field(default=None, description="The model's input contract.")
    attacks: list[Annotated[str, BeforeValidator(_attack_spec)]] | None = Field(
        default=None,
        min_length=1,
        description="Attacks that judge, as NAME[:KEY=VALUE,...] (e.g. 'pgd:steps=20'); "
        "--attack on the command line replaces them. Default: fgsm.",
    )
    require_valid: bool | None = Field(
        default=None,
        description="Whether a validity check (gradient masking, an iterative attack weaker "
        "than FGSM, FGSM under-reporting, ...) that marks the robustness claim unreliable fails "
        "the gate. Default (unset): it does, in every policy; `false`: it only warns.",
    )
    min_eps: MinEpsRules | None = Field(
        default=None,
        description="Limits on the per-sample minimal ε (turns on --find-min-eps).",
    )
    certify: CertifyRules | None = Field(
        default=None,
        description="Certified bounds (turns on --certify with this method) and their limits.",
    )

    @field_validator("version", mode="before")
    @classmethod
    def _integer_version(cls, value: Any) -> Any:
        if isinstance(value, bool) or (isinstance(value, float) and value == 1):
            raise ValueError("version must be the integer 1")
        return value

    @field_validator("budgets")
    @classmethod
    def _unique_budgets(cls, budgets: list[Budget] | None) -> list[Budget] | None:
        seen: dict[tuple[str, float], int] = {}
        for i, budget in enumerate(budgets or []):
            key = (budget.attack, budget.value)
            if key in seen:
                raise ValueError(
                    f"budgets[{seen[key]}] and budgets[{i}] both set {budget.attack} "
                    f"{'tokens' if budget.tokens else 'eps'}={budget.value:g}: merge them"
                )
            seen[key] = i
        return budgets

    @model_validator(mode="after")
    def _has_rules(self, info: ValidationInfo) -> Policy:
        if not _is_fragment(info) and _unset(
            self, ("version", "extends", "description", "input", "attacks")
        ):
            raise ValueError("the policy sets no rules: add budgets, all_eps or min_clean_accuracy")
        return self

    def eps_values(self) -> list[float]:
        """Every ε a budget names, ascending: the scanner scans these besides ``--eps``."""
        named = {budget.eps for budget in self.budgets or [] if budget.eps is not None}
        return sorted(named | set(self.certify.eps or [] if self.certify else []))

    def token_values(self) -> list[int]:
        """Every token budget (text models), ascending: scanned besides ``--tokens``."""
        return sorted({budget.tokens for budget in self.budgets or [] if budget.tokens is not None})

    def high_confidence_thresholds(self) -> set[float]:
        """Every τ a rule uses: the scanner must track each of them."""
        blocks: list[Rules] = [*(self.budgets or []), *([self.all_eps] if self.all_eps else [])]
        return set().union(*(block.high_confidence_thresholds() for block in blocks))


def max_error_rate_policy(eps: list[float], limit: float) -> Policy:
    """The policy behind ``--max-error-rate``: one budget per ε for every attack that ran."""
    return Policy(
        budgets=[
            Budget(attack=ANY_ATTACK, eps=e, max_adversarial_error_rate=Limit(limit=limit))
            for e in eps
        ]
    )


def json_schema_text() -> str:
    """The policy JSON Schema as checked into ``policies/robustcheck-policy.schema.json``."""
    return (
        json.dumps(Policy.model_json_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    )
