"""What a scan plans and what it counts: :class:`Plan` (the attacks, ε and settings the batch
loop follows) and :class:`Tally` (additive per-batch counts), with :func:`merge`.

Below the batch loop (robustcheck.engine.loop) and the checkpoint state (robustcheck.engine.state),
which both read these types.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from robustcheck.attacks import Attack, InputDomain, RandomSignNoise
from robustcheck.backends.output import OutputKind
from robustcheck.engine.certification import CertifyPlan
from robustcheck.engine.contract import Quantiser
from robustcheck.engine.examples import Examples, merge_examples
from robustcheck.engine.fidelity import Agreement
from robustcheck.engine.min_eps import MinEps, MinEpsPlan
from robustcheck.engine.probe import ProbePlan
from robustcheck.engine.sanity import Stability
from robustcheck.engine.text_examples import TextExamples, merge_text_examples
from robustcheck.metrics import Counts
from robustcheck.text.layout import Substitutions


@dataclass(frozen=True)
class Plan:
    eps: list[float]
    attacks: list[Attack]
    domain: InputDomain | None
    quantiser: Quantiser | None
    batch_size: int
    thresholds: tuple[float, ...]
    output_kind: OutputKind | None
    seed: int = 0
    min_eps: MinEpsPlan | None = None
    probe: ProbePlan | None = None
    """The FGSM-gap probe (robustcheck.engine.probe), when it runs."""
    channel_order: str = "RGB"
    """How to show 3-channel examples (the model's channel order does not change)."""
    noise_eps: tuple[float, ...] | None = None
    """The ε the noise baseline runs at (None: every ε)."""
    reuse_clean_forward: bool = False
    """The gradient pass's scores are the deployed scores (one module, one dtype): a labelled batch
    after the first takes its clean scores from the gradient pass instead of a forward of its own."""
    tokens: tuple[int, ...] = ()
    """Token budgets (``--tokens``) of the token-substitution attacks."""
    substitutions: Substitutions | None = None
    """Text models: the vocabulary token-substitution attacks may swap in."""
    vocabulary: tuple[str, ...] | None = None
    """Text models: token strings by id (a tokenizer's), to show examples as text."""
    eps_scale: np.ndarray | None = None
    """Per-feature ε multipliers shaped like a sample (float64), or None for one raw ε."""
    query_rows: int | None = None
    """The most rows one runtime call may take (robustcheck.engine.memory), or None: any."""
    certify: CertifyPlan | None = None
    """``--certify``: the bound graph each batch is certified on."""
    gradient_rows: int | None = None
    """The most rows one forward+backward pass may take (robustcheck.engine.memory), or None:
    any."""

    def eps_for(self, attack: Attack) -> list[float]:
        """The budgets ``attack`` runs and is counted at: every ε (the noise baseline only at
        ``noise_eps``), or the token counts of a token-substitution attack."""
        if attack.budget_unit == "tokens":
            return [float(k) for k in self.tokens]
        if self.noise_eps is None or not isinstance(attack, RandomSignNoise):
            return self.eps
        return [e for e in self.eps if e in self.noise_eps]

    @property
    def example_attack(self) -> str:
        """Examples show the first white-box attack (FGSM by default), else the first attack."""
        return next((a.label for a in self.attacks if a.needs_gradient), self.attacks[0].label)

    @property
    def needs_gradient(self) -> bool:
        """Whether anything in the scan reads input gradients (else none is computed)."""
        return self.min_eps is not None or any(a.needs_gradient for a in self.attacks)


@dataclass
class Tally:
    kind: OutputKind
    n_classes: int
    counts: dict[tuple[str, float], Counts]
    unrounded: dict[tuple[str, float], Counts] | None
    """Counts before rounding to the deployed dtype, when there is one."""
    zero_gradient: int = 0
    margin_fallback: int = 0
    """Samples whose cross-entropy had a zero input gradient somewhere, where the margin loss was
    followed instead."""
    """Samples whose attack direction is zero: the clean gradient, or when no attack reads one,
    the estimate of every gradient-free attack."""
    gradient_evaluations: int = 0
    clean: Agreement = field(default_factory=Agreement)
    adversarial: Agreement = field(default_factory=Agreement)
    examples: Examples = field(default_factory=dict)
    text_examples: TextExamples = field(default_factory=dict)
    stability: Stability = field(default_factory=Stability)
    only_fooled_by: dict[str, int] = field(default_factory=dict)
    """``"a>b@eps"`` → samples attack ``a`` fooled and attack ``b`` did not (validity checks)."""
    broken_by: dict[str, int] = field(default_factory=dict)
    """``"ensemble@eps>member"`` → samples that member of an ensemble broke first."""
    probe: dict[str, list[int]] = field(default_factory=dict)
    """The FGSM-gap probe per ε: [samples, probe errors, one-step errors, probe only, one-step
    only] (additive)."""
    probe_evaluations: int = 0
    """Gradient evaluations the probe spent (not counted in the scan's own)."""
    min_eps: MinEps | None = None
    queries: dict[str, Queries] = field(default_factory=dict)
    """Per gradient-free attack: the runtime queries it spent."""
    certified: dict[str, list[int]] = field(default_factory=dict)
    """``--certify``, per ε (``repr``): [samples, certified, not attempted] (additive)."""
    certify_seconds: float = 0.0
    """Time spent certifying."""


@dataclass(frozen=True)
class Queries:
    """Runtime queries of one attack, additive across batches."""

    total: int = 0
    max_per_sample: int = 0
    samples: int = 0

    def merge(self, other: Queries) -> Queries:
        return Queries(
            self.total + other.total,
            max(self.max_per_sample, other.max_per_sample),
            self.samples + other.samples,
        )


def merge(a: Tally, b: Tally) -> Tally:
    """Tallies are additive: merging per-batch tallies in any grouping gives the same counts."""
    return Tally(
        kind=a.kind,
        n_classes=a.n_classes,
        counts={k: a.counts[k].merge(b.counts[k]) for k in a.counts},
        unrounded=(
            None
            if a.unrounded is None or b.unrounded is None
            else {k: a.unrounded[k].merge(b.unrounded[k]) for k in a.unrounded}
        ),
        zero_gradient=a.zero_gradient + b.zero_gradient,
        margin_fallback=a.margin_fallback + b.margin_fallback,
        gradient_evaluations=a.gradient_evaluations + b.gradient_evaluations,
        clean=a.clean.merge(b.clean),
        adversarial=a.adversarial.merge(b.adversarial),
        examples=merge_examples(a.examples, b.examples),
        text_examples=merge_text_examples(a.text_examples, b.text_examples),
        stability=a.stability.merge(b.stability),
        only_fooled_by=_add(a.only_fooled_by, b.only_fooled_by),
        broken_by=_add(a.broken_by, b.broken_by),
        probe_evaluations=a.probe_evaluations + b.probe_evaluations,
        probe={
            k: [
                x + y for x, y in zip(a.probe.get(k, [0] * 5), b.probe.get(k, [0] * 5), strict=True)
            ]
            for k in sorted(set(a.probe) | set(b.probe))
        },
        min_eps=(
            b.min_eps
            if a.min_eps is None
            else a.min_eps
            if b.min_eps is None
            else a.min_eps.merge(b.min_eps)
        ),
        queries={
            k: a.queries.get(k, Queries()).merge(b.queries.get(k, Queries()))
            for k in sorted(set(a.queries) | set(b.queries))
        },
        certified={
            k: [
                x + y
                for x, y in zip(
                    a.certified.get(k, [0, 0, 0]), b.certified.get(k, [0, 0, 0]), strict=True
                )
            ]
            for k in sorted(set(a.certified) | set(b.certified))
        },
        certify_seconds=a.certify_seconds + b.certify_seconds,
    )


def _add(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    return {k: a.get(k, 0) + b.get(k, 0) for k in sorted(set(a) | set(b))}
