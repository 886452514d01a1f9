"""Minimal ε per sample: the smallest budget along the FGSM direction that fools the deployed model.

Bisection on a grid of ``GRID`` steps over (0, ε_max], forwards only (the direction is the batch's
clean-input gradient sign, already computed): two runtime forwards to bracket, then log2(GRID).
The result is a histogram of grid indices, so batches and shards merge by addition and every
percentile is exact on the grid. A sample misclassified without any perturbation has minimal ε 0;
one not fooled at ε_max is *not found* (its minimal ε is above ε_max, or the ray misses).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from robustcheck.attacks import BatchContext, correct
from robustcheck.reports.model import MinEpsSection

GRID = 1024
PERCENTILES = (0.1, 0.25, 0.5, 0.75, 0.9)


@dataclass(frozen=True)
class MinEpsPlan:
    eps_max: float
    grid: int = GRID


@dataclass
class MinEps:
    eps_max: float
    grid: int
    histogram: list[int] = field(default_factory=list)
    """Index k (0..grid) → samples whose minimal ε is k·ε_max/grid (0: wrong when clean)."""
    not_found: int = 0

    def __post_init__(self) -> None:
        self.histogram = self.histogram or [0] * (self.grid + 1)

    @property
    def n(self) -> int:
        return sum(self.histogram) + self.not_found

    def merge(self, other: MinEps) -> MinEps:
        if (self.eps_max, self.grid) != (other.eps_max, other.grid):
            raise ValueError("cannot merge minimal-ε histograms of different grids")
        return MinEps(
            self.eps_max,
            self.grid,
            [a + b for a, b in zip(self.histogram, other.histogram, strict=True)],
            self.not_found + other.not_found,
        )

    def value(self, k: int) -> float:
        return self.eps_max * k / self.grid

    def percentile(self, q: float) -> float | None:
        """Nearest-rank percentile; ``None`` when it falls among the samples not found."""
        if self.n == 0:
            return None
        rank = max(1, math.ceil(q * self.n))
        seen = 0
        for k, count in enumerate(self.histogram):
            seen += count
            if seen >= rank:
                return self.value(k)
        return None

    def coarse(self, bins: int = 32) -> list[int]:
        """The histogram in ``bins`` equal bins over (0, ε_max] (grid index 0 goes to the first)."""
        out = [0] * bins
        for k, count in enumerate(self.histogram):
            out[min(bins - 1, max(0, math.ceil(k * bins / self.grid) - 1))] += count
        return out


def _fooled_at(
    ctx: BatchContext, signs: torch.Tensor, k: torch.Tensor, plan: MinEpsPlan, rows: torch.Tensor
) -> torch.Tensor:
    x = ctx.x[rows].to(torch.float64)
    eps = (k.to(torch.float64) * plan.eps_max / plan.grid).reshape(-1, *([1] * (x.dim() - 1)))
    step = signs[rows] if ctx.eps_scale is None else signs[rows] * ctx.eps_scale
    adv = x + eps * step
    if ctx.domain is not None:
        adv = adv.clamp(ctx.domain.lo, ctx.domain.hi)
    return ~correct(ctx.runtime_scores(adv), ctx.y[rows])


def find_min_eps(plan: MinEpsPlan, ctx: BatchContext, gradient: torch.Tensor) -> MinEps:
    signs = torch.sign(gradient).to(torch.float64)
    if ctx.free is not None:  # text models: tokens, padding and specials never move
        signs = signs * ctx.free
    n = ctx.x.shape[0]
    result = MinEps(plan.eps_max, plan.grid)
    clean_wrong = ~correct(ctx.clean_scores, ctx.y)
    everyone = torch.arange(n, device=ctx.x.device)
    top = torch.full((n,), plan.grid, dtype=torch.int64, device=ctx.x.device)
    reaches = _fooled_at(ctx, signs, top, plan, everyone) & ~clean_wrong
    rows = reaches.nonzero().squeeze(1)
    lo = torch.zeros(rows.numel(), dtype=torch.int64, device=ctx.x.device)
    hi = torch.full_like(lo, plan.grid)
    while rows.numel() and bool((hi - lo > 1).any()):
        mid = (lo + hi) // 2
        fooled = _fooled_at(ctx, signs, mid, plan, rows)
        hi = torch.where(fooled, mid, hi)
        lo = torch.where(fooled, lo, mid)
    counts = np.bincount(hi.cpu().numpy(), minlength=plan.grid + 1)
    result.histogram = [int(c) for c in counts]
    result.histogram[0] += int(clean_wrong.sum())
    result.not_found = int((~reaches & ~clean_wrong).sum())
    return result


def min_eps_section(result: MinEps) -> MinEpsSection:
    return MinEpsSection(
        method="bisection along the FGSM direction, scored on the deployed runtime",
        eps_max=result.eps_max,
        resolution=result.eps_max / result.grid,
        n=result.n,
        clean_errors=result.histogram[0],
        not_found=result.not_found,
        median=result.percentile(0.5),
        percentiles={f"p{round(q * 100)}": result.percentile(q) for q in PERCENTILES},
        histogram=result.coarse(),
    )
