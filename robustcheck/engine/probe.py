"""The FGSM-gap probe: does one gradient step under-report what a short iterative attack finds?

FGSM is the paper's attack and the default, and on its own it is only a lower bound: a model
trained against FGSM, or one whose loss surface curves within the ε-ball, can fool it while a
10-step attack walks straight through. When a scan's only gradient attacks are one-step ones, the
probe runs a 10-step APGD on a fixed sample of at most 64 inputs (spread evenly over the data, so
the same samples in every batch size, shard and rerun) at every ε, and counts, on the same
samples, what the probe and FGSM fool. The comparison is paired (the same samples), and asks
what a robust-accuracy figure needs: of the probed samples FGSM leaves standing, how many does the
probe break? The validity check ``fgsm_gap`` flags the scan when that share is at least
:data:`MATERIAL` beyond chance (the lower end of its 95 % Wilson interval): FGSM's robust accuracy
then overstates the model's, and (validity being required by default) the gate fails saying so.
On a standard CNN 10 steps break a few more samples than one (measured: 8 of the 38 FGSM leaves
on the digits CNN at ε = 0.1) and the probe stays quiet; on a model trained against FGSM they
break most of them (15 of 19 at its training ε).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from robustcheck.attacks import Attack
from robustcheck.attacks.apgd import APGD
from robustcheck.metrics import wilson_interval
from robustcheck.reports.model import ProbeResult, ProbeSection, ValidityCheck

PROBE_SAMPLES = 64
PROBE_ATTACK = "apgd:steps=10"
NAME = "fgsm_gap"
MATERIAL = 0.25
"""FGSM under-reports materially when the probe breaks at least this share of the samples FGSM
leaves standing (the lower end of the 95 % interval)."""


@dataclass(frozen=True)
class ProbePlan:
    attack: Attack
    """The probe (a 10-step APGD), labelled apart from the scan's attacks."""
    against: str
    """The label of the one-step attack it checks (FGSM's)."""
    indices: frozenset[int]
    """The probed samples' positions in scan order (not their indices in the file)."""


def probe_plan(attacks: list[Attack], n_samples: int, enabled: bool) -> ProbePlan | None:
    """The probe, when the scan's gradient attacks are all one-step ones (else an iterative
    attack already checks FGSM, see the validity check ``iterative_not_weaker``)."""
    gradient = [a for a in attacks if a.needs_gradient and a.budget_unit == "eps"]
    one_step = [a for a in gradient if not a.iterative and not a.targeted]
    if not enabled or not one_step or any(a.iterative for a in gradient):
        return None
    count = min(PROBE_SAMPLES, n_samples)
    indices = frozenset(int(i) for i in np.linspace(0, n_samples - 1, count).round())
    probe = APGD.from_options({"steps": "10"}, label="probe-apgd")
    return ProbePlan(probe, one_step[0].label, indices)


def probe_key(eps: float) -> str:
    return f"{eps!r}"


def probe_section(
    counts: dict[str, list[int]], plan_attack: str, against: str, evaluations: int
) -> ProbeSection:
    """``counts``: ε → [probed samples, probe errors, errors of ``against``, samples only the
    probe fools, samples only ``against`` fools] (additive)."""
    results = [
        ProbeResult(
            eps=float(k),
            samples=v[0],
            probe_errors=v[1],
            one_step_errors=v[2],
            probe_only=v[3],
            one_step_only=v[4],
        )
        for k, v in sorted(counts.items(), key=lambda item: float(item[0]))
    ]
    return ProbeSection(
        attack=plan_attack, against=against, evaluations=evaluations, results=results
    )


def gap_check(section: ProbeSection | None) -> ValidityCheck:
    if section is None:
        return ValidityCheck(
            name=NAME,
            status="not_applicable",
            reason="an iterative attack ran (it checks FGSM), no one-step gradient attack ran, "
            "or the probe was turned off (--no-gap-probe)",
        )
    for r in section.results:
        standing = r.samples - r.one_step_errors
        share = wilson_interval(r.probe_only, standing)
        if share is not None and share[0] >= MATERIAL:
            return ValidityCheck(
                name=NAME,
                status="flagged",
                attack=section.against,
                eps=r.eps,
                reason=f"{section.against} under-reports: a 10-step APGD fools "
                f"{r.probe_errors / r.samples:.0%} of a {r.samples}-sample probe at ε={r.eps:g}, "
                f"{section.against} {r.one_step_errors / r.samples:.0%}: of the {standing} "
                f"samples {section.against} leaves standing the probe breaks {r.probe_only} "
                f"(95% interval {share[0]:.0%}-{share[1]:.0%}), so {section.against}'s robust "
                "accuracy overstates the model's: run --attack apgd, or --attack auto, and gate "
                "on that",
            )
    return ValidityCheck(
        name=NAME,
        status="ok",
        reason=f"a 10-step APGD on a {section.results[0].samples if section.results else 0}-sample "
        f"probe breaks less than {MATERIAL:.0%} (beyond chance) of the samples "
        f"{section.against} leaves standing",
    )
