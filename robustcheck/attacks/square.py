"""Square: score-based random search on the deployed runtime (L∞).

Andriushchenko, Croce, Flammarion & Hein, *Square Attack: a query-efficient black-box adversarial
attack via random search*, ECCV 2020, https://arxiv.org/abs/1912.00049 (Algorithm 1 and the
L∞ proposal of its section 3; the schedule of p from the authors' code, as AutoAttack runs it).

Per ε, each sample starts at the paper's initialisation — vertical stripes: one ±ε per channel
and column — and then, once per query, proposes to set one random square window of its current
perturbation to ±ε (one sign per channel over the window), keeping the proposal when the margin
loss on the runtime's scores improves. The window covers a share p of the pixels; p starts at
``p_init`` and halves at the paper's fractions of the query budget. A sample stops as soon as the
runtime misclassifies it; samples the runtime gets wrong unperturbed cost no query.

Only :meth:`BatchContext.runtime_scores` is used (onnxruntime for ONNX, the module for
TorchScript and ``.pt2``), so it scans models without a gradient path. Every candidate lies in
the ε-ball (per element, :meth:`BatchContext.budget`) and the domain by construction: it is
``x ± ε`` clipped to the domain, element by element.

Input shapes: ``[N, C, H, W]`` (or ``[N, H, W, C]`` with ``layout=NHWC``) as in the paper;
``[N, C, *spatial]`` generally, with hypercube windows over the spatial axes (a segment of a
``[N, C, L]`` signal). Flat inputs ``[N, F]`` have no neighbourhood to exploit: a "window" is a
random subset of ⌈p·F⌉ features, each with its own sign, and the start is a random ±ε per feature.
"""

from __future__ import annotations

import math
from typing import ClassVar, Literal

import numpy as np
import torch
from pydantic import Field

from robustcheck.attacks.base import (
    Attack,
    AttackOutput,
    AttackParams,
    BatchContext,
    Budget,
    Method,
    correct,
)
from robustcheck.attacks.estimated import runtime_loss
from robustcheck.attacks.registry import ATTACKS

DEFAULT_QUERIES = 1000
"""Runtime queries per sample and ε. On 200 digits, deployed as ONNX, Square finds 94 % of the
errors white-box PGD (50 steps, 2 restarts) finds on the digits CNN at ε = 0.1, and 104 % on a
ResNet-style CNN at ε = 0.05; AutoAttack's 5000 found 3 more samples of 200 on each, at 4.7× the
queries (docs/attacks.md). Raise it for inputs with many more pixels than digits' 64."""
P_SCHEDULE = (
    (10, 1),
    (50, 2),
    (200, 4),
    (500, 8),
    (1000, 16),
    (2000, 32),
    (4000, 64),
    (6000, 128),
    (8000, 256),
)
"""The authors' schedule of p: at query fractions (per 10 000) up to the first number, p is
``p_init`` divided by the second; beyond the last, by 512."""
_REDRAWS = 10
"""Redraws of a window's signs that would leave the sample unchanged (the authors redraw until it
changes; a window whose every element has a zero budget never can)."""
_DRAW_BYTES = 4 * 2**20
"""At most this much float64 for the draws of a window tried at once (a few such tensors live at
once, inside the probe block the memory budget reserves)."""

Layout = Literal["auto", "NCHW", "NHWC"]


class SquareParams(AttackParams):
    queries: int = Field(
        default=DEFAULT_QUERIES,
        ge=1,
        le=1_000_000,
        description="Runtime queries per sample and ε (the start counts as one); a sample stops "
        "once fooled.",
    )
    p_init: float = Field(
        default=0.8,
        gt=0,
        le=1,
        description="Share of the pixels (features) the first windows cover; halves at the "
        "paper's fractions of the budget.",
    )
    loss: Literal["margin", "ce"] = Field(
        default="margin",
        description="`margin` (best other log-probability minus the true one) or `ce`.",
    )
    layout: Layout = Field(
        default="auto",
        description="Axis order of 4-d inputs: `auto` guesses channels-last when the last axis "
        "has 1 or 3 entries and the first does not.",
    )
    seed: int = Field(default=0, description="Seed of the search (with the scan's --seed).")


@ATTACKS.register()
class Square(Attack):
    """Random search over square windows of ±ε, on runtime scores only (Andriushchenko et al.)."""

    name: ClassVar[str] = "square"
    description: ClassVar[str] = (
        "random search over square ±ε windows, scored by the deployed runtime (no gradient)"
    )
    Params: ClassVar[type[AttackParams]] = SquareParams
    needs_gradient: ClassVar[bool] = False
    method: ClassVar[Method] = "random-search"
    iterative = True
    random_start = True  # the stripes: a random vertex of the ε-ball

    def _settings(self) -> SquareParams:
        assert isinstance(self.params, SquareParams)
        return self.params

    def candidates(self, ctx: BatchContext, eps: list[float]) -> AttackOutput:
        p = self._settings()
        n = ctx.x.shape[0]
        queries = torch.zeros(n, dtype=torch.int64, device=ctx.x.device)
        adversarial = {}
        unmeasured = torch.zeros(n, dtype=torch.bool, device=ctx.x.device)
        for index, e in enumerate(eps):
            search = _Search(ctx, p, ctx.budget(e), ctx.rng(4, p.seed, index))
            adversarial[e] = search.run()
            queries += search.spent
            if index == 0:
                unmeasured = search.blind
        return AttackOutput(adversarial, queries=queries, unmeasured=unmeasured)


def p_at(p_init: float, it: int, queries: int) -> float:
    """The share of pixels a window covers at iteration ``it`` of a budget of ``queries``."""
    fraction = int(it / queries * 10_000)
    divisor = next((d for bound, d in P_SCHEDULE if fraction <= bound), 512)
    return p_init / divisor


class _Windows:
    """Where a window may lie in one sample shape, and random windows and stripes for it."""

    def __init__(self, shape: tuple[int, ...], layout: Layout) -> None:
        self.shape = shape
        self.flat = len(shape) < 2
        channel = 0
        if len(shape) == 3 and (layout == "NHWC" or (layout == "auto" and _channels_last(shape))):
            channel = 2
        self.channel = channel
        self.spatial = [a for a in range(len(shape)) if a != channel]

    @property
    def features(self) -> int:
        return math.prod(self.shape)

    def side(self, p: float) -> int:
        """The window's side (flat: its number of features) for a share p."""
        if self.flat:
            return min(max(round(p * self.features), 1), self.features)
        sizes = [self.shape[a] for a in self.spatial]
        side = round((p * math.prod(sizes)) ** (1 / len(sizes)))
        return min(max(side, 1), min(sizes))

    def stripes(self, rng: np.random.Generator, n: int) -> torch.Tensor:
        """The start's signs: one per channel and column (per feature when flat)."""
        shape = [n, *self.shape]
        if not self.flat and len(self.spatial) > 1:
            shape[1 + self.spatial[0]] = 1  # constant down each column: vertical stripes
        return _signs(rng, tuple(shape))

    def draw(self, rng: np.random.Generator, n: int, side: int) -> torch.Tensor:
        """A random window per sample: a bool mask shaped ``[n, *shape]`` (1 on the channel axis)."""
        if self.flat:
            order = np.argsort(rng.random((n, self.features)), axis=1)
            subset = np.zeros((n, self.features), dtype=bool)
            np.put_along_axis(subset, order[:, :side], True, axis=1)
            return torch.from_numpy(subset.reshape(n, *self.shape))
        mask = torch.ones((n, *[1] * len(self.shape)), dtype=torch.bool)
        for axis in self.spatial:
            size = self.shape[axis]
            start = torch.from_numpy(rng.integers(0, size - side + 1, size=n))
            inside = torch.arange(size)[None] - start[:, None]
            view = [n, *[1] * len(self.shape)]
            view[1 + axis] = size
            mask = mask & ((inside >= 0) & (inside < side)).reshape(view)
        return mask

    def window_signs(self, rng: np.random.Generator, n: int) -> torch.Tensor:
        """One sign per channel (per feature when flat) for the window of each sample."""
        if self.flat:
            return _signs(rng, (n, *self.shape))
        shape = [n, *[1] * len(self.shape)]
        shape[1 + self.channel] = self.shape[self.channel]
        return _signs(rng, tuple(shape))


def _channels_last(shape: tuple[int, ...]) -> bool:
    """The report's guess for images (robustcheck.engine.examples): the last axis looks like
    channels and the first does not."""
    return len(shape) == 3 and shape[-1] in (1, 3) and shape[0] not in (1, 3)


def _select(budget: Budget, rows: torch.Tensor) -> Budget:
    """The budget of the samples ``rows`` (a number or a ``[1, ...]`` tensor serves them all)."""
    return budget if isinstance(budget, float | int) or budget.shape[0] == 1 else budget[rows]


def _signs(rng: np.random.Generator, shape: tuple[int, ...]) -> torch.Tensor:
    signs = rng.integers(0, 2, size=shape, dtype=np.int8) * 2 - 1
    return torch.from_numpy(signs.astype(np.float64))


class _Search:
    """Algorithm 1 at one ε for the whole batch; samples leave the search once fooled."""

    def __init__(
        self, ctx: BatchContext, p: SquareParams, budget: Budget, rng: np.random.Generator
    ) -> None:
        self.ctx, self.p, self.rng = ctx, p, rng
        self.x = ctx.x64
        self.budget = budget if isinstance(budget, float | int) else budget.to(self.x.device)
        self.windows = _Windows(tuple(self.x.shape[1:]), p.layout)
        n = self.x.shape[0]
        device = self.x.device
        self.spent = torch.zeros(n, dtype=torch.int64, device=device)
        self.blind = torch.zeros(n, dtype=torch.bool, device=device)
        self.best = self.x.clone()
        self.fooled = ~correct(ctx.clean_scores, ctx.y)
        self.loss = torch.full((n,), -torch.inf, dtype=torch.float64, device=device)
        self.clean_loss = runtime_loss(ctx.clean_scores, ctx.y, ctx.kind, p.loss)
        self.unchanged = torch.ones(n, dtype=torch.bool, device=device)
        """No query so far changed the sample's scores (it has measured nothing)."""

    def _clip(self, candidate: torch.Tensor) -> torch.Tensor:
        domain = self.ctx.domain
        return candidate if domain is None else candidate.clamp_(domain.lo, domain.hi)

    def _query(self, rows: torch.Tensor, candidate: torch.Tensor) -> None:
        """Score ``candidate`` (one row per sample of ``rows``); keep it where it improves."""
        ctx = self.ctx
        scores = ctx.runtime_scores(candidate, rows)
        self.spent[rows] += 1
        loss = runtime_loss(scores, ctx.y[rows], ctx.kind, self.p.loss)
        fooled = ~correct(scores, ctx.y[rows])
        keep = (loss > self.loss[rows]) | fooled
        self.best[rows[keep]] = candidate[keep]
        self.loss[rows[keep]] = loss[keep]
        self.fooled[rows[fooled]] = True
        self.unchanged[rows] &= loss == self.clean_loss[rows]

    def run(self) -> torch.Tensor:
        q = self.p.queries
        rows = (~self.fooled).nonzero().squeeze(1)
        if rows.numel() == 0:
            return self.best
        stripes = self.windows.stripes(self.rng, rows.numel()).to(self.x.device)
        self._query(rows, self._clip(self.x[rows] + _select(self.budget, rows) * stripes))
        for it in range(q - 1):
            rows = (~self.fooled).nonzero().squeeze(1)
            if rows.numel() == 0:
                break
            side = self.windows.side(p_at(self.p.p_init, it, q))
            self._query(rows, self._proposal(rows, side))
        searched = self.spent > 0
        self.blind = searched & self.unchanged & ~self.fooled
        return self.best

    def _proposal(self, rows: torch.Tensor, side: int) -> torch.Tensor:
        """Each sample's best point with one random window set to ±ε (a window that would leave
        the point unchanged gets new signs, up to :data:`_REDRAWS` times). Several draws are
        tried at once where they fit in :data:`_DRAW_BYTES` (the first that changes the point
        wins), so a small input costs one vectorised step, not a Python loop per redraw."""
        x, best = self.x[rows], self.best[rows]
        budget = _select(self.budget, rows)
        n = rows.numel()
        mask = self.windows.draw(self.rng, n, side).to(x.device)
        candidate = best.clone()
        todo = torch.arange(n, device=x.device)
        left = _REDRAWS + 1
        while left and todo.numel():
            k = todo.numel()
            group = max(1, min(left, _DRAW_BYTES // max(1, 8 * k * self.windows.features)))
            left -= group
            signs = self.windows.window_signs(self.rng, group * k).to(x.device)
            signs = signs.view(group, k, *signs.shape[1:])
            proposed = self._clip(x[todo] + _select(budget, todo) * signs)
            options = torch.where(mask[todo], proposed, best[todo])
            changed = (options != best[todo]).flatten(2).any(dim=2)  # [group, k]
            first = changed.to(torch.int8).argmax(dim=0)  # the first draw that changes it
            candidate[todo] = options[first, torch.arange(k, device=x.device)]
            todo = todo[~changed.any(dim=0)]
        return candidate
