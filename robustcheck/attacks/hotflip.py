"""HotFlip token substitutions: real texts within a budget of k swapped tokens.

HotFlip (Ebrahimi, Rao, Lowd & Dou, *HotFlip: White-Box Adversarial Examples for Text
Classification*, ACL 2018, https://arxiv.org/abs/1712.06751) ranks every swap of the token at
position i for vocabulary entry v by the first-order loss increase ``(e_v − e_i) · ∇_{e_i} J``,
all read off one gradient with respect to the word embeddings. Here each step takes the ``beam``
best-ranked swaps of every sample, has the *deployed* model score each resulting text (real token
ids: the backend runs the full graph on them) and keeps the one that lowers the true class's
margin most, if any does. A sample stops once it is fooled; each position changes at most once;
padding, special tokens and disallowed vocabulary never come in. The budget is the number of
swapped tokens ``k`` (per ``--tokens``), not ε: the attack base checks it (``budget_unit``).
"""

from __future__ import annotations

from typing import ClassVar

import torch
from pydantic import Field

from robustcheck.attacks.base import (
    Attack,
    AttackOutput,
    AttackParams,
    BatchContext,
    BudgetUnit,
    correct,
)
from robustcheck.attacks.losses import CrossEntropy
from robustcheck.attacks.registry import ATTACKS
from robustcheck.errors import UsageError
from robustcheck.text.layout import IDS, PINNED, Substitutions


class HotFlipParams(AttackParams):
    beam: int = Field(
        default=4,
        ge=1,
        le=256,
        description="Best-ranked swaps per sample and step scored on the deployed model.",
    )


@ATTACKS.register()
class HotFlip(Attack):
    """Greedy first-order token substitutions, confirmed on the deployed model (Ebrahimi 2018)."""

    name: ClassVar[str] = "hotflip"
    description: ClassVar[str] = "up to k token swaps ranked by the embedding gradient (HotFlip)"
    Params: ClassVar[type[AttackParams]] = HotFlipParams
    budget_unit: ClassVar[BudgetUnit] = "tokens"
    iterative: ClassVar[bool] = True
    """One greedy swap per step, up to the token budget k."""

    @staticmethod
    def _substitutions(ctx: BatchContext) -> Substitutions:
        if ctx.substitutions is None:
            raise UsageError("--tokens: token substitutions need a text model (integer input_ids)")
        return ctx.substitutions

    def candidates(self, ctx: BatchContext, eps: list[float]) -> AttackOutput:
        assert isinstance(self.params, HotFlipParams)
        budgets = sorted({int(k) for k in eps})
        x = ctx.x64.clone()
        fooled = ~correct(ctx.clean_scores, ctx.y)  # a wrong clean prediction needs no swap
        margin = _margin(ctx.clean_scores, ctx.y)
        adversarial: dict[float, torch.Tensor] = {}
        for step in range(1, budgets[-1] + 1):
            rows = (~fooled).nonzero().squeeze(1)
            if rows.numel():
                self._step(ctx, x, rows, fooled, margin)
            if step in budgets:
                adversarial[float(step)] = x.clone()
        return AttackOutput({e: adversarial[float(int(e))] for e in eps})

    def _step(
        self,
        ctx: BatchContext,
        x: torch.Tensor,
        rows: torch.Tensor,
        fooled: torch.Tensor,
        margin: torch.Tensor,
    ) -> None:
        """One greedy swap for each sample in ``rows`` (updates ``x``, ``fooled``, ``margin``)."""
        assert isinstance(self.params, HotFlipParams)
        subs = self._substitutions(ctx)
        hidden = subs.table.shape[1]
        sub = x[rows]
        grad = ctx.gradient(sub, CrossEntropy(), rows=rows).gradient[..., :hidden]
        grad = grad.to(torch.float64)
        gain = _gains(sub, grad, subs, ctx.x64[rows])
        n, length, vocab = gain.shape
        beam = min(self.params.beam, length * vocab)
        best, flat = gain.reshape(n, -1).topk(beam, dim=1)
        position, token = flat // vocab, flat % vocab
        texts = sub.unsqueeze(1).repeat(1, beam, 1, 1)  # [n, beam, L, H + 4]
        pick = torch.arange(n, device=x.device)[:, None], torch.arange(beam, device=x.device)
        texts[pick[0], pick[1], position, :hidden] = subs.table[token]
        texts[pick[0], pick[1], position, hidden + IDS] = token.to(torch.float64)
        scores = ctx.runtime_scores(texts.reshape(n * beam, *sub.shape[1:]))
        y = ctx.y[rows].repeat_interleave(beam)
        cand_margin = _margin(scores, y).reshape(n, beam)
        cand_margin[~torch.isfinite(best)] = torch.inf  # fewer allowed swaps than the beam
        lowest, choice = cand_margin.min(dim=1)
        better = lowest < margin[rows]
        take = rows[better]
        x[take] = texts[better.nonzero().squeeze(1), choice[better]]
        margin[take] = lowest[better]
        fooled[take] = lowest[better] <= 0


def _gains(
    sub: torch.Tensor, grad: torch.Tensor, subs: Substitutions, clean: torch.Tensor
) -> torch.Tensor:
    """First-order loss increase ``[n, L, V]`` of each swap; -inf where a swap is not allowed."""
    hidden = subs.table.shape[1]
    current = sub[..., :hidden]
    gain = torch.einsum("nlh,vh->nlv", grad, subs.table) - (current * grad).sum(-1, keepdim=True)
    ids = sub[..., hidden + IDS].round().long()
    frozen = (sub[..., hidden + PINNED] == 1) | (ids != clean[..., hidden + IDS].round().long())
    gain = gain.masked_fill(frozen.unsqueeze(-1), -torch.inf)
    gain = gain.masked_fill(~subs.allowed.view(1, 1, -1), -torch.inf)
    if subs.token_class is not None:
        gain = gain.masked_fill(
            subs.token_class[ids].unsqueeze(-1) != subs.token_class.view(1, 1, -1), -torch.inf
        )
    return gain.scatter(-1, ids.unsqueeze(-1), -torch.inf)


def _margin(scores: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """True-class score minus the best other class (≤ 0: not correctly classified)."""
    rows = torch.arange(scores.shape[0], device=scores.device)
    true = scores[rows, y].clone()
    others = scores.clone()
    others[rows, y] = -torch.inf
    return true - others.max(dim=1).values
