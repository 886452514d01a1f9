"""Validity checks: could the attack, rather than the model, explain the numbers?

A model that masks or shatters its gradients looks robust to gradient attacks without being so
(Athalye, Carlini & Wagner, *Obfuscated Gradients Give a False Sense of Security*, ICML 2018).
Each check here looks for one signature of that, or of a broken measurement, and says why in one
line. Any flagged check marks the robustness claim unreliable; the policy rule ``require_valid``
turns that into a failure.

Which attacks a check compares follows from the capabilities each attack declares (``method``,
``needs_gradient``, ``budget_unit``, ``iterative``, ``targeted``, ``random_start``), never from
its class: a plugin that declares itself an iterative gradient attack is held to what BIM and PGD
are held to, and a one-step gradient plugin stands in for FGSM.
"""

from __future__ import annotations

import itertools

from robustcheck.attacks import Attack
from robustcheck.engine.probe import gap_check
from robustcheck.metrics import wilson_interval
from robustcheck.reports.model import (
    AttackResult,
    FidelitySection,
    ProbeSection,
    ValidityCheck,
    ValiditySection,
)

MAX_ZERO_GRADIENT_FRACTION = 0.1
"""More samples than this with an all-zero input gradient: the gradient cannot be followed."""
MASKING_RATIO = 0.25
"""FGSM flipping fewer than this share of what an iterative attack with random starts flips..."""
MASKING_MIN_FLIPPED = 0.1
"""...once that attack flips at least this share of the samples: the gradient-masking signature."""
BEATS_NOISE_FACTOR = 1.5
"""A gradient attack must flip at least this many times what noise of the same size flips..."""
MIN_NOISE_FLIPS = 5
"""...once noise flips at least this many samples (below that, both are at the clean error)."""
NOISE_SATURATES = 0.9
"""Noise flipping at least this share of the correctly classified samples: ε is not small."""
FGSM_ONLY_FRACTION = 0.02
"""Samples FGSM fools and an iterative attack does not, beyond this share (and 2 samples)."""


def _untargeted(attack: Attack) -> bool:
    """An untargeted gradient attack on the ε sweep (token budgets are not comparable to ε)."""
    return attack.needs_gradient and attack.budget_unit == "eps" and not attack.targeted


def _beats_noise_applies(attack: Attack) -> bool:
    """Every untargeted attack that follows a direction, gradient or estimated, must beat noise
    (on the ε sweep: token budgets are not comparable to ε)."""
    return attack.method != "random" and attack.budget_unit == "eps" and not attack.targeted


def _nowhere(attack: Attack) -> str:
    """Why an attack that follows a direction would do no better than noise."""
    if attack.method == "random-search":
        return "its search finds nothing noise does not (too few queries, or scores that barely change within ε)"
    estimated = "estimated " if not attack.needs_gradient else ""
    return (
        f"its {estimated}gradient points nowhere useful (masked or shattered gradients, or too "
        "few queries)"
    )


def _one_step(attack: Attack) -> bool:
    """FGSM's role: one untargeted gradient step from the clean input (FGSM, ``bim:steps=1``, a
    one-step plugin), the baseline an iterative attack must not fall below."""
    return _untargeted(attack) and not attack.iterative and not attack.random_start


def _iterative(attack: Attack) -> bool:
    """An untargeted iterative gradient attack (BIM, PGD, an iterative plugin)."""
    return _untargeted(attack) and attack.iterative


def _flipped(result: AttackResult) -> int:
    return result.adversarial_errors - (result.n - result.clean_correct)


def validity_section(
    attacks: list[Attack],
    results: list[AttackResult],
    zero_gradient: int,
    n: int,
    only_fooled_by: dict[str, int],
    fidelity: FidelitySection,
    *,
    surrogate: str | None = None,
    probe: ProbeSection | None = None,
    features: int | None = None,
) -> ValiditySection:
    """``surrogate``: the model a transfer attack crafted its perturbations on; the gradient
    checks then judge its gradients, and the target's error is only a lower bound."""
    by_key = {(r.attack, r.eps): r for r in results}
    checks = [
        *_beats_noise(attacks, by_key),
        *_monotone(attacks, results),
        *_iterative_not_weaker(attacks, by_key, only_fooled_by, n),
        *_gradients(attacks, by_key, zero_gradient, n),
        gap_check(probe),
        *_ensemble_not_weaker(attacks, by_key),
        *_query_budget(attacks, features),
        _fidelity(fidelity) if surrogate is None else _transfer(fidelity, surrogate),
    ]
    reliable = not any(c.status == "flagged" for c in checks)
    return ValiditySection(reliable=reliable, checks=checks, probe=probe)


def _ok(name: str, reason: str) -> ValidityCheck:
    return ValidityCheck(name=name, status="ok", reason=reason)


def _skipped(name: str, reason: str) -> ValidityCheck:
    return ValidityCheck(name=name, status="not_applicable", reason=reason)


def _beats_noise(
    attacks: list[Attack], by_key: dict[tuple[str, float], AttackResult]
) -> list[ValidityCheck]:
    name = "beats_noise"
    flagged = []
    compared = False
    for attack in filter(_beats_noise_applies, attacks):
        for (label, eps), result in sorted(by_key.items()):
            noise = by_key.get(("noise", eps))
            if label != attack.label or noise is None:
                continue
            compared = True
            if _flipped(noise) >= MIN_NOISE_FLIPS and _flipped(
                result
            ) < BEATS_NOISE_FACTOR * _flipped(noise):
                flagged.append(
                    ValidityCheck(
                        name=name,
                        status="flagged",
                        attack=label,
                        eps=eps,
                        reason=_noise_reason(attack, label, eps, result, noise),
                    )
                )
    if flagged:
        return flagged
    if not compared:
        return [_skipped(name, "no noise baseline to compare with")]
    return [_ok(name, "every attack fools more samples than noise of the same size")]


def _noise_reason(
    attack: Attack, label: str, eps: float, result: AttackResult, noise: AttackResult
) -> str:
    """Why an attack did not beat noise: when noise alone flips nearly every correctly
    classified sample, ε is simply not small for this input; otherwise the direction is poor."""
    flips = f"it flips {_flipped(result)} samples, noise {_flipped(noise)}"
    if result.clean_correct and _flipped(noise) >= NOISE_SATURATES * result.clean_correct:
        return (
            f"at ε={eps:g} random noise alone flips {_flipped(noise)} of the "
            f"{result.clean_correct} correctly classified samples ({flips}): ε is not small for "
            "this input (integer or categorical features, or a range much smaller than ε), so "
            "no attack can be told from noise here; scan smaller ε"
        )
    return f"{label} at ε={eps:g} is no stronger than random noise of the same size ({flips}): {_nowhere(attack)}"


def _query_budget(attacks: list[Attack], features: int | None) -> list[ValidityCheck]:
    """A gradient estimated from fewer queries than the input has features is mostly noise: an
    estimated-gradient attack with such a budget is a lower bound too weak to trust."""
    name = "query_budget"
    estimated = [a for a in attacks if a.method == "estimated-gradient" and a.budget_unit == "eps"]
    if not estimated or features is None:
        return [_skipped(name, "no estimated-gradient attack (spsa, nes) ran")]
    flagged = []
    for attack in estimated:
        queries = getattr(attack.params, "queries", None)
        if isinstance(queries, int) and queries < features:
            flagged.append(
                ValidityCheck(
                    name=name,
                    status="flagged",
                    attack=attack.label,
                    reason=f"{attack.label} estimates a gradient over {features} input features "
                    f"from {queries} queries per sample: its direction is mostly noise and its "
                    "error a weak lower bound (use --attack square, or raise queries above "
                    f"{features})",
                )
            )
    return flagged or [_ok(name, "every estimated gradient has more queries than input features")]


def _monotone(attacks: list[Attack], results: list[AttackResult]) -> list[ValidityCheck]:
    name = "error_rises_with_eps"
    flagged = []
    for attack in attacks:
        rows = sorted((r for r in results if r.attack == attack.label), key=lambda r: r.eps)
        for small, large in itertools.pairwise(rows):
            lo_small = wilson_interval(small.adversarial_errors, small.n)
            hi_large = wilson_interval(large.adversarial_errors, large.n)
            if lo_small and hi_large and hi_large[1] < lo_small[0]:
                flagged.append(
                    ValidityCheck(
                        name=name,
                        status="flagged",
                        attack=attack.label,
                        eps=large.eps,
                        reason=f"{attack.label} error falls from {small.adversarial_error_rate:.1%} "
                        f"at ε={small.eps:g} to {large.adversarial_error_rate:.1%} at "
                        f"ε={large.eps:g}, beyond the 95% intervals: a larger budget should never "
                        "help the model",
                    )
                )
    return flagged or [_ok(name, "adversarial error never falls significantly as ε grows")]


def _iterative_not_weaker(
    attacks: list[Attack],
    by_key: dict[tuple[str, float], AttackResult],
    only_fooled_by: dict[str, int],
    n: int,
) -> list[ValidityCheck]:
    name = "iterative_not_weaker"
    one_step = [a for a in attacks if _one_step(a)]
    iterative = [a for a in attacks if _iterative(a)]
    if not one_step or not iterative:
        return [_skipped(name, "needs FGSM and an untargeted iterative attack (bim, pgd)")]
    flagged = []
    allowed = max(2, int(FGSM_ONLY_FRACTION * n))
    for f in one_step:
        for it in iterative:
            for (label, eps), fr in sorted(by_key.items()):
                ir = by_key.get((it.label, eps))
                if label != f.label or ir is None:
                    continue
                only = only_fooled_by.get(f"{f.label}>{it.label}@{eps!r}", 0)
                if ir.adversarial_errors < fr.adversarial_errors or only > allowed:
                    flagged.append(
                        ValidityCheck(
                            name=name,
                            status="flagged",
                            attack=it.label,
                            eps=eps,
                            reason=_weaker_reason(it.label, f.label, eps, ir, fr, only),
                        )
                    )
    return flagged or [_ok(name, "iterative attacks fool at least what FGSM fools")]


def _weaker_reason(
    it: str, f: str, eps: float, ir: AttackResult, fr: AttackResult, only: int
) -> str:
    if ir.adversarial_errors < fr.adversarial_errors:
        what = f"is weaker than {f} ({ir.adversarial_errors} vs {fr.adversarial_errors} errors)"
    else:
        what = f"misses {only} samples that {f} fools"
    return (
        f"{it} at ε={eps:g} {what}: the iterative attack is not converging (more steps or "
        "restarts), or the gradient is noisy"
    )


def _gradients(
    attacks: list[Attack],
    by_key: dict[tuple[str, float], AttackResult],
    zero_gradient: int,
    n: int,
) -> list[ValidityCheck]:
    name = "gradient_masking"
    flagged = []
    if zero_gradient > MAX_ZERO_GRADIENT_FRACTION * n:
        estimated = not any(a.needs_gradient for a in attacks)
        what = (
            "a zero estimated gradient (no probe changed their scores): flat regions wider than "
            "the probes hide"
            if estimated
            else "an all-zero input gradient: a quantising or saturating layer hides"
        )
        flagged.append(
            ValidityCheck(
                name=name,
                status="flagged",
                reason=f"{zero_gradient} of {n} samples have {what} the direction an attacker "
                "would follow",
            )
        )
    random_start = [a for a in attacks if _iterative(a) and a.random_start]
    one_step = [a for a in attacks if _one_step(a)]
    for f in one_step:
        for it in random_start:
            for (label, eps), ir in sorted(by_key.items()):
                fr = by_key.get((f.label, eps))
                if label != it.label or fr is None:
                    continue
                if _flipped(ir) >= MASKING_MIN_FLIPPED * n and _flipped(
                    fr
                ) < MASKING_RATIO * _flipped(ir):
                    flagged.append(
                        ValidityCheck(
                            name=name,
                            status="flagged",
                            attack=f.label,
                            eps=eps,
                            reason=f"{f.label} at ε={eps:g} flips {_flipped(fr)} samples where "
                            f"{it.label} from random starts flips {_flipped(ir)}: the gradient at "
                            "the input is uninformative (the gradient-masking signature)",
                        )
                    )
    return flagged or [_ok(name, "input gradients are informative")]


def _ensemble_not_weaker(
    attacks: list[Attack], by_key: dict[tuple[str, float], AttackResult]
) -> list[ValidityCheck]:
    """An ensemble runs its members until one fools each sample: it must fool at least what any
    other untargeted attack of the scan fools at the same ε."""
    name = "ensemble_not_weaker"
    ensembles = [a for a in attacks if a.ensemble]
    if not ensembles:
        return [_skipped(name, "no ensemble attack (auto) ran")]
    others = [a for a in attacks if _beats_noise_applies(a) and not a.ensemble]
    flagged = []
    for ensemble in ensembles:
        for (label, eps), er in sorted(by_key.items()):
            if label != ensemble.label:
                continue
            for other in others:
                r = by_key.get((other.label, eps))
                if r is not None and r.adversarial_errors > er.adversarial_errors:
                    flagged.append(
                        ValidityCheck(
                            name=name,
                            status="flagged",
                            attack=ensemble.label,
                            eps=eps,
                            reason=f"{ensemble.label} at ε={eps:g} fools {er.adversarial_errors} "
                            f"samples, {other.label} alone {r.adversarial_errors}: a member stopped "
                            "short (more steps, restarts or queries)",
                        )
                    )
    return flagged or [_ok(name, "ensembles fool at least what every other attack fools")]


def _fidelity(fidelity: FidelitySection) -> ValidityCheck:
    name = "twin_agrees_on_adversarial_inputs"
    if fidelity.paths == "same-module":
        return _skipped(name, "scores and gradients come from the same module")
    if fidelity.paths == "none":
        return _skipped(name, "no attack followed a gradient path (fidelity is not claimed)")
    diff = fidelity.adversarial_max_abs_probability_difference
    agree = fidelity.adversarial_top1_agreement
    if diff is None or agree is None:
        return _skipped(name, "no adversarial inputs were compared")
    onnx = fidelity.paths == "onnx-twin-vs-onnxruntime"
    paths = "the gradient twin and onnxruntime" if onnx else "the float32 copy and the module"
    if diff > fidelity.tolerance:
        return ValidityCheck(
            name=name,
            status="flagged",
            reason=f"on adversarial inputs {paths} differ by up to "
            f"{diff:.2g} in probability (top-1 agreement {agree:.1%}): the attack follows a model "
            "that is not the deployed one",
        )
    agreeing = "twin and runtime" if onnx else "float32 copy and module"
    return _ok(name, f"{agreeing} agree on adversarial inputs (max difference {diff:.2g})")


def _transfer(fidelity: FidelitySection, surrogate: str) -> ValidityCheck:
    """A transfer scan is valid as what it is: the error the surrogate's perturbations cause."""
    clean = fidelity.clean_top1_agreement
    adversarial = fidelity.adversarial_top1_agreement
    shown = "" if adversarial is None else f", {adversarial:.1%} on adversarial inputs"
    return ValidityCheck(
        name="transfer_upper_bound",
        status="ok",
        reason=f"a transfer attack: perturbations crafted on the surrogate {surrogate} (top-1 "
        f"agreement with the target {clean:.1%} clean{shown}); the target's adversarial error is "
        "a lower bound, its robustness an upper bound valid for this surrogate only; the gradient "
        "checks above judge the surrogate's gradients",
    )
