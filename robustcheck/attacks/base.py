"""The attack base: owns the ε budget, the valid domain, targets and the loss gradient.

After foolbox 3's fixed-epsilon attacks: an attack only proposes *candidates* for each budget of
the sweep; :meth:`Attack.__call__` (final: no attack overrides it) enforces the budget on every
candidate itself, through the :class:`BudgetRule` the attack's declared ``budget_unit`` selects —
for ε, projection onto the L∞ ball around the clean input and into the valid domain — so no
attack can exceed its budget. Everything stays a torch
tensor on the backend's device; the perturbation arithmetic is float64, so ``x + ε`` is exact in
raw data units before the model rounds it to its own dtype.

ε may be per feature: with a scale vector ``s`` (``--eps-units std``, ``--eps-scale``) the budget
of feature i at sweep value ε is ``ε·s_i`` (:meth:`BatchContext.budget`), and the ball, the steps
and the projection all use it: FGSM becomes ``x + ε·s_i·sign(g_i)``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Literal, final, get_args

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, ValidationError

from robustcheck.attacks._blocks import clip_to_ball_
from robustcheck.attacks.losses import CrossEntropy, Loss
from robustcheck.backends.base import Backend, SideInputs, with_side
from robustcheck.backends.output import OutputKind
from robustcheck.errors import UsageError
from robustcheck.text.layout import Substitutions, check_token_budget


@dataclass(frozen=True)
class InputDomain:
    """The closed interval every valid input element lies in, in raw data units."""

    lo: float
    hi: float


Budget = float | torch.Tensor
"""ε in raw units: one number, or float64 per feature shaped ``[1, *sample_shape]``."""


def correct(scores: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """True where the true class is finite and strictly above every other class (ties and NaN
    are never correct)."""
    rows = torch.arange(scores.shape[0], device=scores.device)
    true = scores[rows, y]
    others = scores.clone()
    others[rows, y] = -torch.inf
    return torch.isfinite(true) & (true > others.max(dim=1).values)


@dataclass(frozen=True)
class GradientResult:
    gradient: torch.Tensor
    """∇ₓJ up to a positive per-sample factor (its sign is exact), same shape as x."""
    scores: torch.Tensor
    """The differentiable path's scores ``[N, C]`` (float64, detached) at the same point."""


TargetMode = Literal["least-likely", "all"]


@dataclass
class BatchContext:
    """One batch as every attack sees it: the clean inputs, labels and what they cost to query."""

    model: Backend
    x: torch.Tensor
    """Clean inputs on the model's device, in the data's dtype."""
    y: torch.Tensor
    """int64 labels on the model's device."""
    kind: OutputKind
    domain: InputDomain | None
    clean_scores: torch.Tensor
    """Deployed scores of the clean batch (float64), reused by every attack."""
    seed: int = 0
    batch_start: int = 0
    deployed: Callable[[torch.Tensor], torch.Tensor] | None = None
    """What the deployed model receives for an input (rounding to its dtype), if anything."""
    substitutions: Substitutions | None = None
    """Text models: the vocabulary a token-substitution attack may swap in."""
    free: torch.Tensor | None = None
    """Per-element share of ε each input element may move (float64, 0 or 1, shaped like ``x``):
    a text model's token and padding channels get 0. ``None``: every element gets all of ε."""
    eps_scale: torch.Tensor | None = None
    """Per-feature ε multipliers (float64, ``[1, *sample_shape]``, on the device), or None: one ε
    for every feature."""
    gradient_evaluations: int = 0
    """Forward+backward passes over the batch (a pass over k of n samples counts k/n)."""
    runtime_evaluations: int = 0
    side: SideInputs | None = None
    """A multi-input model's other inputs for this batch (row-aligned with ``x``), fed unchanged."""
    fallback_samples: torch.Tensor | None = None
    """The samples whose loss had a zero input gradient somewhere and followed the margin loss
    there instead (see :attr:`Loss.fallback`); ``None`` while there is none."""
    max_rows: int | None = None
    """The most rows one runtime call may take (the scan's memory budget over the model's measured
    memory per row, robustcheck.engine.memory); ``None``: any number."""
    gradient_rows: int | None = None
    """The most rows one forward+backward pass may take (a memory cap over the pass's measured
    memory per row, robustcheck.engine.passes); ``None``: any number."""
    parent_rows: torch.Tensor | None = None
    """For a :meth:`subset`: its samples' rows in the batch it was taken from."""
    _cache: dict[Any, GradientResult] = field(default_factory=dict)
    _tensors: dict[Any, torch.Tensor] = field(default_factory=dict)

    def gradient(
        self,
        x: torch.Tensor,
        loss: Loss,
        rows: torch.Tensor | None = None,
        target: torch.Tensor | None = None,
    ) -> GradientResult:
        """∇ₓ of ``loss`` at ``x`` for the samples ``rows`` (all when None): one forward and one
        backward pass through the differentiable path, in chunks of at most ``gradient_rows``
        rows (the activations a backward pass keeps grow with the rows: about 100 MB a row for
        a MobileNet-sized model at 224×224)."""
        self.gradient_evaluations += 1
        n, step = x.shape[0], self.gradient_rows
        if step is None or n <= step:
            return self._gradient(x, loss, rows, target)
        every = torch.arange(n, device=x.device) if rows is None else rows
        grad = torch.empty_like(x)
        scores: torch.Tensor | None = None
        for start in range(0, n, step):
            real = min(step, n - start)
            # The last chunk repeats its last row: every call has the same shape (TorchScript
            # specialises on it; some models fail on a batch of one).
            pick = torch.arange(start, start + step, device=x.device).clamp_(max=n - 1)
            part = self._gradient(
                x[pick], loss, every[pick], None if target is None else target[pick]
            )
            if scores is None:
                scores = part.scores.new_empty((n, *part.scores.shape[1:]))
            grad[start : start + real] = part.gradient[:real]
            scores[start : start + real] = part.scores[:real]
        assert scores is not None
        return GradientResult(gradient=grad, scores=scores)

    def _gradient(
        self,
        x: torch.Tensor,
        loss: Loss,
        rows: torch.Tensor | None,
        target: torch.Tensor | None,
    ) -> GradientResult:
        """One forward and one backward pass over all of ``x`` (the samples ``rows``)."""
        y = self.y if rows is None else self.y[rows]
        leaf = x.detach().requires_grad_(True)
        scores = with_side(self.model.forward, leaf, self.side_rows(rows))
        grad_scores = loss.output_gradient(scores, y, target, self.kind).to(scores.dtype)
        fallback = loss.fallback
        grad = _backward(scores, grad_scores, leaf, keep=fallback is not None)
        if fallback is not None and scores.requires_grad:
            flat = (grad.reshape(grad.shape[0], -1) == 0).all(dim=1)
            if bool(flat.any()):
                # The loss is flat at these samples (its gradient vanished inside the model):
                # follow the margin loss there, so a sample is "without gradient" only when
                # every loss is.
                margin = fallback.output_gradient(scores, y, target, self.kind).to(scores.dtype)
                keep = flat.reshape(-1, *([1] * (margin.dim() - 1)))
                again = _backward(scores, torch.where(keep, margin, 0.0), leaf, keep=False)
                grad = torch.where(flat.reshape(-1, *([1] * (grad.dim() - 1))), again, grad)
                self._fell_back(flat, rows)
        return GradientResult(gradient=grad, scores=scores.detach().to(torch.float64))

    def _fell_back(self, flat: torch.Tensor, rows: torch.Tensor | None) -> None:
        """Mark the batch's samples whose loss fell back to the margin loss."""
        if self.fallback_samples is None:
            self.fallback_samples = torch.zeros_like(self.y, dtype=torch.bool)
        where = flat if rows is None else rows[flat]
        self.fallback_samples[where] = True

    def clean_gradient(
        self, loss: Loss | None = None, target: torch.Tensor | None = None, key: object = None
    ) -> GradientResult:
        """The gradient at the clean inputs, computed once per batch for each loss and target
        (``key`` names the target): every one-step attack and the first step of every iterative
        one without random start share it, so an FGSM sweep costs one gradient per batch."""
        loss = loss or CrossEntropy()
        cache_key = (type(loss).__name__, loss.targeted, key)
        if cache_key not in self._cache:
            self._cache[cache_key] = self.gradient(self.x, loss, target=target)
        return self._cache[cache_key]

    def budget(self, eps: float) -> Budget:
        """The raw-unit budget of sweep value ε: ε itself, or ε times each feature's scale, and
        times the share of ε each element may move (``free``: 0 for a text model's token
        channels, padding and special tokens)."""
        budget: Budget = eps if self.eps_scale is None else eps * self.eps_scale
        return budget if self.free is None else budget * self.free

    @property
    def x64(self) -> torch.Tensor:
        """The clean batch in float64, where perturbations are computed (made once per batch)."""
        if "x64" not in self._tensors:
            self._tensors["x64"] = self.x.to(torch.float64)
        return self._tensors["x64"]

    def clean_signs(
        self, loss: Loss | None = None, target: torch.Tensor | None = None, key: object = None
    ) -> torch.Tensor:
        """sign(∇ₓJ) at the clean inputs as int8 (-1, 0 or 1: an eighth of float64's memory),
        once per batch, loss and target."""
        loss = loss or CrossEntropy()
        cache_key = ("signs", type(loss).__name__, loss.targeted, key)
        if cache_key not in self._tensors:
            gradient = self.clean_gradient(loss, target, key).gradient
            self._tensors[cache_key] = torch.sign(gradient).to(torch.int8)
        return self._tensors[cache_key]

    def runtime_scores(self, x: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
        """What the deployed model scores for the (unrounded) adversarial inputs ``x``: the
        batch, or with ``rows`` one input per entry of ``rows`` (the sample it perturbs; rows
        may repeat, so the probes of many samples go to the runtime in one call, or in chunks of
        ``max_rows``)."""
        self.runtime_evaluations += 1
        step = x.shape[0] if self.max_rows is None else self.max_rows
        if x.shape[0] <= step:
            return self._scores(x, rows)
        parts = []
        for start in range(0, x.shape[0], step):
            if rows is None:
                chunk = torch.arange(start, min(start + step, x.shape[0]), device=x.device)
            else:
                chunk = rows[start : start + step]
            parts.append(self._scores(x[start : start + step], chunk))
        return torch.cat(parts)

    def _scores(self, x: torch.Tensor, rows: torch.Tensor | None) -> torch.Tensor:
        deployed = x if self.deployed is None else self.deployed(x)
        return with_side(self.model.scores, deployed, self.side_rows(rows))

    def side_rows(self, rows: torch.Tensor | None) -> SideInputs | None:
        """The other inputs for the samples ``rows`` (all when None)."""
        if not self.side:
            return None
        if rows is None:
            return self.side
        return {name: value[rows] for name, value in self.side.items()}

    def subset(self, rows: torch.Tensor) -> BatchContext:
        """The samples ``rows`` of this batch as a batch of their own (an ensemble runs each
        member on the samples still standing); its costs are added back with :meth:`absorb`."""

        def pick(t: torch.Tensor | None) -> torch.Tensor | None:
            return None if t is None or t.dim() == 0 or t.shape[0] != self.x.shape[0] else t[rows]

        free = pick(self.free) if self.free is not None else None
        return BatchContext(
            model=self.model,
            x=self.x[rows],
            y=self.y[rows],
            kind=self.kind,
            domain=self.domain,
            clean_scores=self.clean_scores[rows],
            seed=self.seed,
            batch_start=self.batch_start,
            deployed=self.deployed,
            substitutions=self.substitutions,
            free=free if free is not None else self.free,
            eps_scale=self.eps_scale,
            side=self.side_rows(rows),
            max_rows=self.max_rows,
            gradient_rows=self.gradient_rows,
            parent_rows=rows,
        )

    def absorb(self, part: BatchContext) -> None:
        """Add the costs (and the margin-loss fallbacks) of a :meth:`subset` run to this batch."""
        self.gradient_evaluations += part.gradient_evaluations
        self.runtime_evaluations += part.runtime_evaluations
        if part.fallback_samples is not None and part.parent_rows is not None:
            self._fell_back(part.fallback_samples, part.parent_rows)

    def rng(self, *stream: int) -> np.random.Generator:
        """A generator seeded by the seed, the batch's position and ``stream``: a sample's
        randomness never depends on earlier batches or on the device."""
        return np.random.default_rng([self.seed, self.batch_start, *stream])


def _backward(
    scores: torch.Tensor, grad_scores: torch.Tensor, leaf: torch.Tensor, *, keep: bool
) -> torch.Tensor:
    """∇ of Σ scores·grad_scores at ``leaf``: back-propagates ``grad_scores`` exactly (1·g;
    passing g as grad_outputs instead makes torch import sympy, 0.3-0.7 s of every scan's start).
    Zero when the input is not on a differentiable path. ``keep``: the graph stays for another
    backward pass."""
    grad = None
    if scores.requires_grad:
        surrogate = (scores * grad_scores.detach()).sum()
        (grad,) = torch.autograd.grad(surrogate, leaf, allow_unused=True, retain_graph=keep)
    return torch.zeros_like(leaf) if grad is None else grad


@dataclass(frozen=True)
class AttackOutput:
    adversarial: dict[float, torch.Tensor]
    """Per ε: the projected adversarial batch (float64)."""
    targets: dict[float, torch.Tensor] | None = None
    """Per ε, for targeted attacks: the class each sample was pushed towards."""
    queries: torch.Tensor | None = None
    """Attacks that query the deployed runtime: int64 queries spent per sample (all ε)."""
    unmeasured: torch.Tensor | None = None
    """Gradient-free attacks: True where the estimated direction is zero (no probe changed the
    scores), so the attack measured nothing for that sample."""
    broken_by: dict[float, dict[str, int]] | None = None
    """Ensembles: per ε, each member's label → the samples it broke that no member before it had
    broken (robustcheck.attacks.ensemble)."""


class BudgetRule(ABC):
    """How a budget is enforced on the candidates an attack proposes. :meth:`Attack.__call__`
    applies the rule the attack's ``budget_unit`` names (:data:`BUDGET_RULES`); a new norm or
    budget is a new rule, never a branch in an attack or in the base."""

    unit: ClassVar[str]
    """The ``budget_unit`` this rule enforces."""

    @abstractmethod
    def enforce(
        self, ctx: BatchContext, proposed: Mapping[float, torch.Tensor]
    ) -> dict[float, torch.Tensor]:
        """The candidates of each budget, made to respect it (or refused: a bug in the attack)."""


class LinfBall(BudgetRule):
    """ε as an L∞ budget: every candidate is projected onto the ε-ball around the clean input,
    then into the valid domain (per feature with an ε scale, see :meth:`BatchContext.budget`)."""

    unit: ClassVar[str] = "eps"

    def enforce(
        self, ctx: BatchContext, proposed: Mapping[float, torch.Tensor]
    ) -> dict[float, torch.Tensor]:
        return {
            e: self.project(adv, ctx.x, ctx.budget(e), ctx.domain) for e, adv in proposed.items()
        }

    @staticmethod
    def project(
        candidate: torch.Tensor, x: torch.Tensor, eps: Budget, domain: InputDomain | None
    ) -> torch.Tensor:
        """``candidate`` clipped to ``[x - ε, x + ε]`` (per element when ε is a tensor) and to
        the domain, in float64: a new tensor, computed over blocks of rows."""
        lo, hi = (None, None) if domain is None else (domain.lo, domain.hi)
        if candidate.shape == x.shape:
            return clip_to_ball_(candidate.to(torch.float64, copy=True), x, eps, lo, hi)
        x64 = x.to(torch.float64)  # shapes that broadcast: the plain expression
        adv = torch.minimum(torch.maximum(candidate.to(torch.float64), x64 - eps), x64 + eps)
        return adv if lo is None or hi is None else adv.clamp_(lo, hi)


project = LinfBall.project
"""The L∞ projection, for attacks that project between their own steps (PGD, iterative SPSA)."""


class TokenBudget(BudgetRule):
    """At most k substituted tokens per text (``--tokens K``): a token-substitution attack
    proposes real texts, which are checked rather than projected (there is nothing to clip a
    token id to); padding, special tokens and the mask and type channels never change."""

    unit: ClassVar[str] = "tokens"

    def enforce(
        self, ctx: BatchContext, proposed: Mapping[float, torch.Tensor]
    ) -> dict[float, torch.Tensor]:
        if ctx.substitutions is None:
            raise UsageError("--tokens: token substitutions need a text model (integer input_ids)")
        hidden = ctx.substitutions.table.shape[1]
        for k, adv in proposed.items():
            check_token_budget(adv, ctx.x, hidden, int(k))
        return dict(proposed)


BudgetUnit = Literal["eps", "tokens"]
BUDGET_RULES: dict[str, BudgetRule] = {rule.unit: rule for rule in (LinfBall(), TokenBudget())}
"""The rule that enforces each budget unit."""

Method = Literal["gradient", "estimated-gradient", "random-search", "random"]
METHODS: tuple[str, ...] = get_args(Method)


class AttackParams(BaseModel):
    """Base of every attack's parameters: strict, so a typo is an error, never a default."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Attack(ABC):
    """An attack with a fixed budget per value of the sweep (ε, or a number of tokens).

    Subclasses set ``name``, a ``Params`` model, their capabilities and :meth:`candidates`; they
    never clip, and never override :meth:`__call__`.

    **Capabilities** decide what the scan checks about an attack (the validity checks, whether a
    model needs a gradient path), never its class. Those of the class, whatever its parameters,
    are class variables: ``needs_gradient``, ``method``, ``budget_unit``. Those that may depend
    on the parameters are properties of the configured attack: ``iterative``, ``targeted``,
    ``random_start``; each defaults to False, and an attack whose answer never depends on its
    parameters declares it as a class attribute (``iterative = True``).
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    Params: ClassVar[type[AttackParams]] = AttackParams
    needs_gradient: ClassVar[bool] = True
    """Whether the attack reads input gradients through the differentiable path (FGSM, BIM, PGD).
    A scan whose attacks all say False loads models without one (query-only). True exactly when
    ``method`` is ``gradient``."""
    method: ClassVar[Method] = "gradient"
    """How the perturbation is obtained, as the report states it: ``gradient`` (white-box),
    ``estimated-gradient`` (a gradient estimated from queries to the deployed runtime only),
    ``random-search`` (proposals kept when the runtime's scores improve; no gradient, not even
    an estimate) or ``random``."""
    budget_unit: ClassVar[BudgetUnit] = "eps"
    """``eps`` (an L∞ budget, the sweep's ε) or ``tokens`` (substituted tokens, ``--tokens``);
    it selects the :class:`BudgetRule` that :meth:`__call__` enforces."""
    ensemble: ClassVar[bool] = False
    """A chain of other attacks, each run on the samples the ones before it left standing
    (``auto``): it must fool at least what any other untargeted attack of the scan fools."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__call__" in cls.__dict__:
            raise TypeError(
                f"{cls.__qualname__} overrides Attack.__call__, which enforces the budget: "
                "implement candidates() instead"
            )
        if cls.budget_unit not in BUDGET_RULES:
            raise TypeError(
                f"{cls.__qualname__}: budget_unit {cls.budget_unit!r} is not one of "
                f"{', '.join(BUDGET_RULES)}"
            )

    def __init__(self, params: AttackParams | None = None, *, label: str | None = None) -> None:
        self.params = params if params is not None else self.Params()
        self.label = label or self.name
        """The name results and policy rules use."""

    @property
    def iterative(self) -> bool:
        """More than one step per run (BIM, PGD, SPSA with ``steps`` > 1): the attack refines its
        own result, so it must do at least as well as a one-step attack of the same kind."""
        return False

    @property
    def targeted(self) -> bool:
        """Pushes samples towards a chosen class rather than away from the true one."""
        return False

    @property
    def random_start(self) -> bool:
        """Starts from a random point of the ball rather than the clean input, so it does not
        depend on the gradient at the input (what the gradient-masking check compares with)."""
        return False

    @classmethod
    def from_options(cls, options: Mapping[str, Any], *, label: str | None = None) -> Attack:
        try:
            params = cls.Params.model_validate(dict(options))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'parameters'}: {e['msg']}"
                for e in exc.errors()
            )
            raise UsageError(f"--attack {cls.name}: {problems}") from None
        return cls(params, label=label)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "label": self.label, **self.params.model_dump(mode="json")}

    @abstractmethod
    def candidates(self, ctx: BatchContext, eps: list[float]) -> AttackOutput:
        """Proposed adversarial inputs for each budget (unclipped is fine: the base enforces
        the budget)."""

    @final
    def __call__(self, ctx: BatchContext, eps: list[float]) -> AttackOutput:
        """The candidates, each made to respect its budget by the rule of ``budget_unit``: the
        template method, final so that no attack can skip it."""
        proposed = self.candidates(ctx, eps)
        rule = BUDGET_RULES[self.budget_unit]
        kept = rule.enforce(ctx, {e: proposed.adversarial[e] for e in eps})
        return replace(proposed, adversarial=kept)


def capability_problems(cls: type[Attack]) -> list[str]:
    """What is inconsistent in the capabilities an attack class declares (empty: nothing). The
    registry refuses such a class, so a plugin that declares itself inconsistently is named and
    skipped rather than checked wrongly. (An unknown ``budget_unit`` is refused earlier, when the
    class is made: no rule could enforce it.)"""
    problems = []
    if not isinstance(cls.needs_gradient, bool):
        problems.append(f"needs_gradient is {cls.needs_gradient!r}, not a bool")
    if cls.method not in METHODS:
        problems.append(f"method {cls.method!r} is not one of {', '.join(METHODS)}")
    elif cls.needs_gradient != (cls.method == "gradient"):
        problems.append(
            f"needs_gradient is {cls.needs_gradient} but method is {cls.method!r} "
            "(a gradient attack, and only one, reads gradients)"
        )
    for capability in ("iterative", "targeted", "random_start"):
        declared = getattr(cls, capability)
        if not isinstance(declared, (bool, property)):
            problems.append(f"{capability} is {declared!r}, neither a bool nor a property")
    return problems
