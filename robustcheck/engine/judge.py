"""Judging a scan: its tally and context become the report — results, fidelity, validity, the
policy's checks, the fail-closed rules and the verdict. The one place a report is made (unsharded,
merged or Ray)."""

from __future__ import annotations

import math

from robustcheck.attacks import Attack
from robustcheck.engine.attack_plan import (
    build_attacks,
    gating_eps,
    min_eps_plan,
)
from robustcheck.engine.certification import certification_section, certify_method
from robustcheck.engine.config import ScanConfig
from robustcheck.engine.context import ScanContext
from robustcheck.engine.examples import shown
from robustcheck.engine.fidelity import fidelity_section, tolerance_for
from robustcheck.engine.min_eps import min_eps_section
from robustcheck.engine.probe import PROBE_ATTACK, probe_plan, probe_section
from robustcheck.engine.results import attack_result
from robustcheck.engine.sanity import (
    FRAGILE_MARGIN,
    Stability,
    check_ties,
)
from robustcheck.engine.sections import (
    policy_section,
    versions,
)
from robustcheck.engine.tally import Tally
from robustcheck.engine.text_examples import shown_text
from robustcheck.engine.validity import validity_section
from robustcheck.errors import DataError, MeasurementError
from robustcheck.exit_codes import ExitCode
from robustcheck.policy.evaluate import evaluate, verdict
from robustcheck.reports.json_report import read as read_report
from robustcheck.reports.model import (
    AttackMethod,
    AttackResult,
    CertificationSection,
    Check,
    EnsembleResult,
    EnvironmentSection,
    FidelitySection,
    GradientSection,
    MemberResult,
    MinEpsSection,
    ModelSection,
    ProbeSection,
    Report,
    SettingsSection,
    StabilitySection,
    ValiditySection,
)
from robustcheck.vocabulary import NOISE_BASELINE, Verdict

_LOW_ACCURACY_FRACTION = 0.25
"""Clean accuracy below chance + this share of the way to 100 % is treated as a setup error."""
_MAX_ZERO_GRADIENT_FRACTION = 0.5


def build_report(
    config: ScanConfig, context: ScanContext, tally: Tally, *, started_at: str, duration_s: float
) -> Report:
    """Judge a whole scan's tally: the one place a report is made (unsharded, merged or Ray)."""
    info, data = context.info, context.data
    check_ties(tally.stability, info.path)
    attacks, _ = build_attacks(config)
    class_names = None if data.class_names is None else tuple(data.class_names)
    results = _results(tally, class_names)
    tolerance = tolerance_for(info, config.fidelity_tolerance, config.precision)
    fidelity = fidelity_section(info, tally.clean, tally.adversarial, tolerance)
    validity = validity_section(
        attacks,
        results,
        tally.zero_gradient,
        data.n_samples,
        tally.only_fooled_by,
        fidelity,
        surrogate=None if context.surrogate is None else context.surrogate.path,
        probe=_probe_section(config, attacks, tally, data.n_samples),
        features=_features(context.input_shape),
    )
    min_eps = None if tally.min_eps is None else min_eps_section(tally.min_eps)
    method = certify_method(config)
    certification = (
        None
        if method is None
        else certification_section(
            method, tally.certified, tally.certify_seconds, results, NOISE_BASELINE
        )
    )
    checks = _evaluate(
        config, results, class_names, validity, min_eps, _judged(attacks), certification
    )
    outcome, warnings = _verdict(config, context, tally, attacks, checks, fidelity)
    return Report(
        complete=True,
        verdict=outcome,
        exit_code=int(_exit_code(outcome, exit_zero=config.exit_zero)),
        model=ModelSection(
            path=info.path,
            sha256=info.sha256,
            format=info.format,
            output_kind=tally.kind.value,
            output_kind_source="declared" if config.declared_output_kind else "detected",
            n_classes=tally.n_classes,
            input_shape=context.input_shape,
            surrogate=context.surrogate,
        ),
        data=data,
        settings=_settings_section(config, context, attacks),
        input=context.input,
        gradient=GradientSection(
            evaluations=tally.gradient_evaluations,
            zero_gradient_samples=tally.zero_gradient,
            margin_fallback_samples=tally.margin_fallback,
        ),
        stability=StabilitySection(
            fragile_samples=tally.stability.fragile,
            fragile_margin=FRAGILE_MARGIN,
            tied_samples=tally.stability.tied,
        ),
        fidelity=fidelity,
        results=results,
        checks=checks,
        policy=policy_section(config),
        examples=shown(tally.examples, gating_eps(checks, config.eps)),
        text_examples=shown_text(tally.text_examples),
        validity=validity,
        min_eps=min_eps,
        warnings=warnings,
        versions=versions(),
        environment=EnvironmentSection(
            device=info.device, threads=info.threads, deterministic=True
        ),
        started_at=started_at,
        duration_s=duration_s,
        methods=attack_methods(
            attacks, tally, data.n_samples, transfer=context.surrogate is not None
        ),
        ensembles=_ensembles(attacks, tally),
        certification=certification,
    )


def _features(shape: list[int | None]) -> int | None:
    """Input elements per sample, from the model's input shape (``None`` if one is unknown)."""
    sizes = shape[1:]
    return None if not sizes or any(s is None for s in sizes) else math.prod(s for s in sizes if s)


def _probe_section(
    config: ScanConfig, attacks: list[Attack], tally: Tally, n: int
) -> ProbeSection | None:
    plan = probe_plan(attacks, n, config.gap_probe and config.surrogate is None)
    if plan is None or not tally.probe:
        return None
    return probe_section(tally.probe, PROBE_ATTACK, plan.against, tally.probe_evaluations)


def _ensembles(attacks: list[Attack], tally: Tally) -> list[EnsembleResult] | None:
    """Each ensemble's per-ε member breakdown, in chain order."""
    found = []
    for attack in attacks:
        if not attack.ensemble:
            continue
        for eps in sorted({float(k.split("@", 1)[1].split(">", 1)[0]) for k in tally.broken_by
                           if k.startswith(f"{attack.label}@")}):  # fmt: skip
            prefix = f"{attack.label}@{eps!r}>"
            members = [
                MemberResult(attack=m.label, broke=tally.broken_by.get(prefix + m.label, 0))
                for m in getattr(attack, "members", [])
            ]
            found.append(EnsembleResult(attack=attack.label, eps=eps, members=members))
    return found or None


def _results(tally: Tally, class_names: tuple[str, ...] | None) -> list[AttackResult]:
    """One result per attack and budget; with a deployed dtype, also the errors before rounding."""
    results = [
        attack_result(label, eps, c, class_names) for (label, eps), c in tally.counts.items()
    ]
    if tally.unrounded is None:
        return results
    unrounded = tally.unrounded
    return [
        r.model_copy(
            update={
                "adversarial_errors_before_rounding": unrounded[
                    (r.attack, r.eps)
                ].adversarial_errors
            }
        )
        for r in results
    ]


def _verdict(
    config: ScanConfig,
    context: ScanContext,
    tally: Tally,
    attacks: list[Attack],
    checks: list[Check],
    fidelity: FidelitySection,
) -> tuple[Verdict, list[str]]:
    """The verdict of the checks and the report's warnings: the scan's notes, what fails closed,
    rules near their threshold, and an untrusted gradient path (which makes the verdict error)."""
    estimated = not any(a.needs_gradient for a in attacks) and min_eps_plan(config) is None
    warnings = [
        *context.notes,
        *_fail_closed(tally, context, config.allow_low_accuracy, estimated=estimated),
    ]
    outcome: Verdict = verdict(checks, strict=config.strict)
    warnings += _near_threshold(checks, tally.stability, context.data.n_samples)
    if not fidelity.trusted and not config.allow_low_fidelity:
        outcome = "error"
        warnings.append(
            "the gradient path disagrees with the deployed runtime beyond the tolerance "
            f"({fidelity.clean_max_abs_probability_difference or 0:.2g} clean, "
            f"{fidelity.adversarial_max_abs_probability_difference or 0:.2g} adversarial > "
            f"{fidelity.tolerance:g}): gradients are untrustworthy; verdict is error "
            "(--allow-low-fidelity to accept)"
        )
    return outcome, warnings


def _settings_section(
    config: ScanConfig, context: ScanContext, attacks: list[Attack]
) -> SettingsSection:
    return SettingsSection(
        eps=config.eps,
        attacks=[a.label for a in attacks],
        attack_parameters=[a.describe() for a in attacks],
        batch_size=context.batch_size or config.batch_size,
        batch_size_source="auto" if context.batch_size is not None else "given",
        precision=config.precision,
        seed=config.seed,
        high_confidence_threshold=config.high_confidence,
        input_range=context.input_range,
        input_range_source=context.input_range_source,
        config_source=config.config_source,
    )


def attack_methods(
    attacks: list[Attack], tally: Tally, n: int, *, transfer: bool = False
) -> list[AttackMethod]:
    """How each attack got its perturbations, with the runtime queries of gradient-free ones;
    in a transfer scan the gradient is the surrogate's."""
    methods = []
    for attack in attacks:
        spent = tally.queries.get(attack.label)
        method: str = attack.method
        if transfer and method == "gradient":
            method = "surrogate-gradient"
        methods.append(
            AttackMethod(
                attack=attack.label,
                method=method,
                queries=None if spent is None else spent.total,
                queries_per_sample=None if spent is None or not n else spent.total / n,
                max_queries_per_sample=None if spent is None else spent.max_per_sample,
            )
        )
    return methods


def _fail_closed(
    tally: Tally, context: ScanContext, allow_low_accuracy: bool, *, estimated: bool = False
) -> list[str]:
    """Refuse results that measured nothing; return warnings for what is merely suspicious.
    ``estimated``: the attack directions were estimated from queries (no gradient was taken)."""
    info, data = context.info, context.data
    n = data.n_samples
    if estimated and tally.zero_gradient > _MAX_ZERO_GRADIENT_FRACTION * n:
        raise MeasurementError(
            f"{info.path}: no probe changed the scores of {tally.zero_gradient} of {n} samples, "
            "so the gradient-free attacks measured nothing for them (a piecewise-constant model "
            "whose steps are wider than the probes, or an output that does not depend on the input)",
            hint="raise probe_scale or queries, e.g. --attack spsa:probe_scale=2,queries=1000",
        )
    if estimated and tally.zero_gradient:
        return [
            *_estimate_warning(tally.zero_gradient, n),
            *_accuracy_checks(tally, context, allow_low_accuracy),
        ]
    if tally.zero_gradient > _MAX_ZERO_GRADIENT_FRACTION * n:
        lo, hi = context.value_range or (math.nan, math.nan)
        unit = (
            f"; the data spans [{lo:g}, {hi:g}]: if the model expects inputs in [0, 1], pass "
            "--std 255 (or scale the data), since raw 0..255 pixels saturate a [0, 1] model"
            if hi > 2 and lo >= 0 and not context.normalised
            else ""
        )
        raise MeasurementError(
            f"{info.path}: the input gradient is exactly zero for {tally.zero_gradient} of {n} "
            "samples, for cross-entropy and the margin loss alike, so no gradient attack can "
            "measure robustness (saturated outputs, quantising input layers or an output that "
            f"does not depend on the input){unit}",
            hint="a gradient-free attack queries the model instead: --attack square",
        )
    warnings = []
    if tally.margin_fallback:
        warnings.append(
            f"cross-entropy's input gradient vanished for {tally.margin_fallback} of {n} samples "
            "(an over-confident model); the gradient attacks followed the margin loss there"
        )
    if tally.zero_gradient and not estimated:
        warnings.append(
            f"{tally.zero_gradient} of {n} samples have an all-zero input gradient; FGSM leaves them unchanged"
        )
    return [*warnings, *_accuracy_checks(tally, context, allow_low_accuracy)]


def _estimate_warning(zero: int, n: int) -> list[str]:
    return [
        f"{zero} of {n} samples got a zero estimated gradient (no probe changed their scores); "
        "the gradient-free attacks leave them unchanged"
    ]


def _accuracy_checks(tally: Tally, context: ScanContext, allow_low_accuracy: bool) -> list[str]:
    data = context.data
    n = data.n_samples
    warnings: list[str] = []
    if data.labels == "predicted":
        warnings.append("the data has no labels: the model's clean predictions were used as labels")
        return warnings
    accuracy = next(iter(tally.counts.values())).clean_correct / n
    chance = 1 / tally.n_classes
    floor = chance + _LOW_ACCURACY_FRACTION * (1 - chance)
    if accuracy < floor:
        message = (
            f"{data.path}: clean accuracy {accuracy:.1%} is near chance ({chance:.1%} for "
            f"{tally.n_classes} classes): the data probably does not match the model's preprocessing "
            "(range, mean/std, layout, labels)"
        )
        if not allow_low_accuracy:
            raise DataError(message, hint="pass --allow-low-accuracy if this is intended")
        warnings.append(message)
    return warnings


def _near_threshold(checks: list[Check], stability: Stability, n: int) -> list[str]:
    """Say so when a rate rule's outcome is within the fragile samples of its limit."""
    notes = []
    for check in checks:
        if check.observed is None or check.status == "error" or "rate" not in check.rule:
            continue
        samples_away = abs(check.observed - check.limit) * n
        if samples_away <= stability.fragile:
            notes.append(
                f"{check.message}: within {samples_away:.0f} samples of its limit, and "
                f"{stability.fragile} samples are fragile (top-2 margin < {FRAGILE_MARGIN:g})"
            )
    return notes


def _evaluate(
    config: ScanConfig,
    results: list[AttackResult],
    class_names: tuple[str, ...] | None,
    validity: ValiditySection,
    min_eps: MinEpsSection | None,
    judged: list[str],
    certification: CertificationSection | None = None,
) -> list[Check]:
    if config.policy is None:
        return []
    baseline = read_report(config.baseline) if config.baseline is not None else None
    names = None if class_names is None else list(class_names)
    return evaluate(
        config.policy,
        results,
        baseline=baseline,
        class_names=names,
        validity=validity,
        min_eps=min_eps,
        judged=judged,
        certification=certification,
    )


def _judged(attacks: list[Attack]) -> list[str]:
    """What a policy rule on ``*`` judges: every attack on the ε sweep but the noise baseline."""
    return [a.label for a in attacks if a.budget_unit == "eps" and a.name != NOISE_BASELINE]


def _exit_code(outcome: str, *, exit_zero: bool) -> ExitCode:
    if outcome == "pass" or (outcome == "fail" and exit_zero):
        return ExitCode.OK
    return ExitCode.POLICY_FAILED if outcome == "fail" else ExitCode.INPUT_ERROR
