"""An AutoAttack-grade ensemble: several attacks, one after another, each on the samples still
standing.

AutoAttack (Croce & Hein, *Reliable evaluation of adversarial robustness with an ensemble of
diverse parameter-free attacks*, ICML 2020, https://arxiv.org/abs/2003.01690; the RobustBench
standard) runs APGD with cross-entropy, targeted APGD with the scale-invariant DLR loss, FAB-T and
the query-based Square attack, each only on the samples the ones before it did not fool, and counts
a sample robust only when every one of them fails. ``auto`` does the same with robustcheck's
attacks: ``apgd:loss=ce``, ``apgd:loss=dlr,targets=9`` and ``square``. FAB-T is left out: a
minimum-norm attack finding the closest decision boundary, it broke no sample the other three had
not broken on all but a handful of the models AutoAttack's authors evaluated, at the cost of a
third attack per target class (``members=`` adds any attack to the chain).

For every ε the chain starts again from the samples the deployed model classifies correctly; a
sample fooled by a member keeps that member's adversarial input (the deployed runtime confirms it
before the next member runs), and how many samples each member newly broke is part of the
output. Samples no member fools keep the last member's (unsuccessful) candidate.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from pydantic import Field, field_validator

from robustcheck.attacks.base import (
    Attack,
    AttackOutput,
    AttackParams,
    BatchContext,
    correct,
)
from robustcheck.attacks.registry import ATTACKS
from robustcheck.attacks.spec import parse_attack_spec
from robustcheck.errors import UsageError

STANDARD = ("apgd:loss=ce,label=apgd-ce", "apgd:loss=dlr,targets=9,label=apgd-t", "square")
"""AutoAttack's standard chain, FAB-T aside (see the module's docstring)."""


class EnsembleParams(AttackParams):
    members: list[str] | None = Field(
        default=None,
        description="The attacks of the chain, in order, as NAME[:KEY=VALUE;...] (`;` between "
        "one member's settings). Default: apgd:loss=ce, apgd:loss=dlr,targets=9, square.",
    )
    seed: int = Field(default=0, description="Passed to every member that takes a seed.")

    @field_validator("members", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):  # from --attack auto:members=a|b|c
            return [part.replace(";", ",") for part in value.split("|") if part.strip()]
        return value


@ATTACKS.register()
class AutoAttack(Attack):
    """Attacks run one after another on the samples still standing (AutoAttack, Croce & Hein
    2020)."""

    name: ClassVar[str] = "auto"
    description: ClassVar[str] = (
        "AutoAttack-grade chain: APGD-CE, APGD-T (DLR), Square, each on the samples still standing"
    )
    Params: ClassVar[type[AttackParams]] = EnsembleParams
    iterative: ClassVar[bool] = True
    random_start: ClassVar[bool] = True
    ensemble: ClassVar[bool] = True

    def __init__(self, params: AttackParams | None = None, *, label: str | None = None) -> None:
        super().__init__(params, label=label)
        assert isinstance(self.params, EnsembleParams)
        self.members = _members(self.params, self.label)

    def candidates(self, ctx: BatchContext, eps: list[float]) -> AttackOutput:
        adversarial: dict[float, torch.Tensor] = {}
        broke: dict[float, dict[str, int]] = {}
        queries = torch.zeros(ctx.x.shape[0], dtype=torch.int64, device=ctx.x.device)
        for e in eps:
            adversarial[e], broke[e], spent = self._chain(ctx, e)
            queries += spent
        return AttackOutput(adversarial, queries=queries, broken_by=broke)

    def _chain(
        self, ctx: BatchContext, eps: float
    ) -> tuple[torch.Tensor, dict[str, int], torch.Tensor]:
        adv = ctx.x64.clone()
        standing = correct(ctx.clean_scores, ctx.y)
        broke: dict[str, int] = {}
        queries = torch.zeros(ctx.x.shape[0], dtype=torch.int64, device=ctx.x.device)
        for member in self.members:
            rows = standing.nonzero().squeeze(1)
            if rows.numel() == 0:
                broke[member.label] = 0
                continue
            sub = ctx.subset(rows)
            output = member(sub, [eps])
            ctx.absorb(sub)
            candidate = output.adversarial[eps]
            fooled = ~correct(sub.runtime_scores(candidate), sub.y)
            adv[rows] = candidate
            standing[rows[fooled]] = False
            broke[member.label] = int(fooled.sum())
            if output.queries is not None:
                queries[rows] += output.queries
        return adv, broke, queries


def _members(params: EnsembleParams, label: str) -> list[Attack]:
    members: list[Attack] = []
    for text in params.members or list(STANDARD):
        spec = parse_attack_spec(text, where=f"--attack {label}: members")
        if spec.name not in ATTACKS:
            known = ", ".join(n for n in ATTACKS.names() if n != AutoAttack.name)
            raise UsageError(
                f"--attack {label}: unknown member {spec.name!r}; built-in attacks: {known}"
            )
        cls = ATTACKS.get(spec.name)
        if cls is AutoAttack or cls.budget_unit != "eps":
            raise UsageError(f"--attack {label}: {spec.name} cannot be a member of the chain")
        options = dict(spec.options)
        if "seed" in cls.Params.model_fields and "seed" not in options:
            options["seed"] = str(params.seed)
        shown, repeat = spec.shown_label, 2
        while shown in {m.label for m in members}:  # apgd|apgd:loss=dlr → apgd, apgd-2
            shown, repeat = f"{spec.shown_label}-{repeat}", repeat + 1
        members.append(cls.from_options(options, label=shown))
    return members
