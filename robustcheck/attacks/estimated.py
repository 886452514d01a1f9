"""Gradient-free attacks: the sign of the loss gradient estimated from runtime queries alone.

SPSA (Spall 1992; as an attack: Uesato et al., *Adversarial Risk and the Dangers of Evaluating
Against Weak Attacks*, ICML 2018, https://arxiv.org/abs/1802.05666) and NES (Wierstra et al. 2014;
as an attack: Ilyas et al., *Black-box Adversarial Attacks with Limited Queries and Information*,
ICML 2018, https://arxiv.org/abs/1804.08598) estimate ∇ₓJ by antithetic finite differences along
random directions v: ĝ = Σᵢ (J(x + δvᵢ) - J(x - δvᵢ)) vᵢ, with Rademacher (SPSA) or Gaussian (NES)
v. Only the deployed runtime is queried, so any model onnxruntime can run is attacked as deployed:
tree ensembles, ops the gradient twin lacks, integer inputs.

``steps=1`` is FGSM with the estimated sign: ``x + ε·sign(ĝ)``, one estimate per batch serving the
whole ε sweep. ``steps>1`` is PGD-like under the same per-sample query budget: each step spends its
share on a fresh estimate at the current point, then moves by ``α·sign(ĝ)``, projected onto the
ε-ball and the domain after each step (the base class projects the result once more).

The probes of every sample of the batch go to the runtime together: one call scores many probes
of many samples (built in blocks of at most ``PROBE_BYTES`` of float64 inputs, sent in calls of at
most ``BatchContext.max_rows`` rows, which the scan sizes from its memory budget).
"""

from __future__ import annotations

from typing import ClassVar, Literal

import numpy as np
import torch
from pydantic import Field

from robustcheck.attacks.base import (
    Attack,
    AttackOutput,
    AttackParams,
    BatchContext,
    Method,
    correct,
    project,
)
from robustcheck.attacks.registry import ATTACKS
from robustcheck.backends.output import OutputKind

DEFAULT_QUERIES = 1000
"""Queries per sample: 500 antithetic pairs. On the digits CNN one step reaches 92-94 % of white-box
FGSM's adversarial error at ε = 0.1 (600: 87-89 %, 200: 70 %); see docs/attacks.md."""
PROBE_BYTES = 16 * 2**20
"""The most float64 probe data built at once (the runtime gets it in calls of at most
``BatchContext.max_rows``). Fixed, so the probes' random draws never depend on the machine."""
_LOG_FLOOR = 1e-30
"""Probabilities are floored before the log, so a class at exactly 0 still gives a finite loss."""


class EstimatedParams(AttackParams):
    queries: int = Field(
        default=DEFAULT_QUERIES,
        ge=2,
        le=1_000_000,
        description="Runtime queries per sample and run, all steps together (probes come in "
        "antithetic pairs; iterative runs spend one more per step on the current point). One "
        "step runs once for the whole ε sweep, iterative runs once per ε.",
    )
    probe_scale: float = Field(
        default=0.5,
        gt=0,
        le=100,
        description="Probe size δ as a multiple of ε (one step: of the sweep's smallest ε).",
    )
    distribution: Literal["rademacher", "gaussian"] = Field(
        default="rademacher", description="Probe directions: random ±1 (SPSA) or N(0, 1) (NES)."
    )
    steps: int = Field(
        default=1, ge=1, le=10_000, description="1: one estimated-sign step of size ε."
    )
    step_size: float | None = Field(
        default=None, gt=0, description="Step size as a multiple of ε (default 2.5 / steps)."
    )
    loss: Literal["margin", "ce"] = Field(
        default="margin",
        description="`margin` (best other log-probability minus the true one) or `ce`.",
    )
    seed: int = Field(default=0, description="Seed of the probes (with the scan's --seed).")


class NESParams(EstimatedParams):
    distribution: Literal["rademacher", "gaussian"] = Field(
        default="gaussian", description="Probe directions: random ±1 (SPSA) or N(0, 1) (NES)."
    )


@ATTACKS.register()
class SPSA(Attack):
    """FGSM / PGD along a gradient sign estimated by SPSA (Uesato et al. 2018)."""

    name: ClassVar[str] = "spsa"
    description: ClassVar[str] = (
        "estimated-gradient sign from antithetic ±1 probes of the deployed runtime (no gradient)"
    )
    Params: ClassVar[type[AttackParams]] = EstimatedParams
    needs_gradient: ClassVar[bool] = False
    method: ClassVar[Method] = "estimated-gradient"

    def _settings(self) -> EstimatedParams:
        assert isinstance(self.params, EstimatedParams)
        return self.params

    @property
    def iterative(self) -> bool:
        """Per configuration: ``steps=1`` is FGSM with the estimated sign."""
        return self._settings().steps > 1

    def candidates(self, ctx: BatchContext, eps: list[float]) -> AttackOutput:
        p = self._settings()
        n = ctx.x.shape[0]
        queries = torch.zeros(n, dtype=torch.int64, device=ctx.x.device)
        if p.steps == 1:
            everyone = torch.arange(n, device=ctx.x.device)
            rng = ctx.rng(2, p.seed)
            grad = _estimate(ctx, p, ctx.x64, everyone, p.queries // 2, min(eps), rng)
            queries += 2 * (p.queries // 2)
            signs = torch.sign(grad)
            adversarial = {e: ctx.x64 + e * signs for e in eps}
            return AttackOutput(adversarial, queries=queries, unmeasured=_flat_zero(grad))
        adversarial = {}
        unmeasured = torch.zeros(n, dtype=torch.bool, device=ctx.x.device)
        for index, e in enumerate(eps):
            adversarial[e], spent, blind = _iterate(ctx, p, e, index)
            queries += spent
            if index == 0:
                unmeasured = blind
        return AttackOutput(adversarial, queries=queries, unmeasured=unmeasured)


@ATTACKS.register()
class NES(SPSA):
    """FGSM / PGD along a gradient sign estimated by NES with Gaussian probes (Ilyas et al. 2018)."""

    name: ClassVar[str] = "nes"
    description: ClassVar[str] = (
        "estimated-gradient sign from antithetic Gaussian probes of the deployed runtime"
    )
    Params: ClassVar[type[AttackParams]] = NESParams


def _iterate(
    ctx: BatchContext, p: EstimatedParams, eps: float, index: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """PGD with estimated signs at one ε: the adversarial batch, the queries per sample and the
    samples whose first estimate was zero. Each step checks the current point first (one query)
    and stops samples already fooled."""
    x = ctx.x64
    n = x.shape[0]
    pairs = max(1, (p.queries // p.steps - 1) // 2)
    alpha = (p.step_size if p.step_size is not None else 2.5 / p.steps) * eps
    rng = ctx.rng(3, p.seed, index)
    adv = x.clone()
    active = torch.ones(n, dtype=torch.bool, device=x.device)
    spent = torch.zeros(n, dtype=torch.int64, device=x.device)
    blind = torch.zeros(n, dtype=torch.bool, device=x.device)
    for step in range(p.steps):
        rows = active.nonzero().squeeze(1)
        if rows.numel() == 0 or int(spent.max()) + 2 * pairs + 1 > p.queries:
            break
        fooled = ~correct(ctx.runtime_scores(adv[rows], rows), ctx.y[rows])
        spent[rows] += 1
        active[rows[fooled]] = False
        rows = rows[~fooled]
        if rows.numel() == 0:
            break
        grad = _estimate(ctx, p, adv[rows], rows, pairs, eps, rng)
        spent[rows] += 2 * pairs
        if step == 0:
            blind[rows] = _flat_zero(grad)
        adv[rows] = project(adv[rows] + alpha * torch.sign(grad), x[rows], eps, ctx.domain)
    return adv, spent, blind


def _estimate(
    ctx: BatchContext,
    p: EstimatedParams,
    at: torch.Tensor,
    rows: torch.Tensor,
    pairs: int,
    eps: float,
    rng: np.random.Generator,
) -> torch.Tensor:
    """Σᵢ (J(at + δvᵢ) - J(at - δvᵢ)) vᵢ over ``pairs`` probe pairs per sample (``at`` holds the
    samples ``rows``), the probes of all samples scored together, a chunk of pairs per call."""
    n, shape = at.shape[0], tuple(at.shape[1:])
    delta = p.probe_scale * eps
    per_pair = max(1, 2 * n * int(np.prod(shape, dtype=np.int64)) * 8)
    chunk = max(1, min(pairs, PROBE_BYTES // per_pair))
    estimate = torch.zeros_like(at)
    y = ctx.y[rows]
    done = 0
    while done < pairs:
        k = min(chunk, pairs - done)
        v = _directions(rng, p.distribution, (k, n, *shape)).to(at.device)
        probes = torch.cat([at + delta * v, at - delta * v]).reshape(2 * k * n, *shape)
        if ctx.domain is not None:
            probes = probes.clamp_(ctx.domain.lo, ctx.domain.hi)
        scores = ctx.runtime_scores(probes, rows.repeat(2 * k))
        value = runtime_loss(scores, y.repeat(2 * k), ctx.kind, p.loss).reshape(2, k, n)
        diff = (value[0] - value[1]).nan_to_num(0.0, 0.0, 0.0)
        estimate += (diff.reshape(k, n, *([1] * len(shape))) * v).sum(dim=0)
        done += k
    return estimate


def _directions(rng: np.random.Generator, kind: str, shape: tuple[int, ...]) -> torch.Tensor:
    if kind == "gaussian":
        return torch.from_numpy(rng.standard_normal(size=shape))
    signs = rng.integers(0, 2, size=shape, dtype=np.int8) * 2 - 1
    return torch.from_numpy(signs.astype(np.float64))


def runtime_loss(
    scores: torch.Tensor, y: torch.Tensor, kind: OutputKind, name: str
) -> torch.Tensor:
    """The loss an untargeted query attack raises, per row, from log-probabilities of the
    runtime's scores: ``margin`` (best other class minus the true one) or ``ce``."""
    scores = scores.to(torch.float64)
    if kind is OutputKind.PROBABILITIES:
        logp = torch.log(scores.clamp(min=_LOG_FLOOR))
    else:
        logp = torch.log_softmax(scores, dim=1)
    rows = torch.arange(scores.shape[0], device=scores.device)
    true = logp[rows, y]
    if name == "ce":
        return -true
    others = logp.clone()
    others[rows, y] = -torch.inf
    return others.max(dim=1).values - true


def _flat_zero(grad: torch.Tensor) -> torch.Tensor:
    return (grad.reshape(grad.shape[0], -1) == 0).all(dim=1)
