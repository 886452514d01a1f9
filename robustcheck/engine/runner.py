"""``run(config) -> Report``: load the model, stream the data, attack, measure, judge.

No printing and no exiting here: the CLI does both.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

from robustcheck.attacks import Attack, InputDomain
from robustcheck.backends.base import Backend, ModelInfo
from robustcheck.backends.loader import load_backend
from robustcheck.boundary import guarded
from robustcheck.data import Dataset, load_dataset, select
from robustcheck.data.class_names import read_class_names
from robustcheck.data.npz import read_side_arrays
from robustcheck.engine.attack_plan import (
    build_attacks,
    gating_eps,
    judged_config,
    min_eps_plan,
    noise_eps,
)
from robustcheck.engine.batch_size import auto_batch_size
from robustcheck.engine.binary import BinaryBackend
from robustcheck.engine.budget import EpsScale, resolve_scale, scale_warnings
from robustcheck.engine.config import ScanConfig
from robustcheck.engine.context import ScanContext
from robustcheck.engine.contract import (
    Normalisation,
    NormalisedBackend,
    check_eps_below_range,
    check_normalisation_not_doubled,
    eps_warnings,
    quantiser_for,
)
from robustcheck.engine.examples import shown
from robustcheck.engine.fidelity import fidelity_section, tolerance_for
from robustcheck.engine.loop import Progress, scan
from robustcheck.engine.min_eps import min_eps_section
from robustcheck.engine.precision import precision_notes, with_precision
from robustcheck.engine.results import attack_result
from robustcheck.engine.sanity import (
    FRAGILE_MARGIN,
    Stability,
    check_ties,
)
from robustcheck.engine.sections import (
    data_section,
    input_section,
    model_input_shape,
    policy_section,
    shape_hint,
    versions,
)
from robustcheck.engine.state import BatchRecords, fingerprint
from robustcheck.engine.tally import Plan, Tally
from robustcheck.engine.text import text_data_format, text_scan
from robustcheck.engine.text_examples import shown_text
from robustcheck.engine.transfer import (
    TransferBackend,
    gradient_path_notes,
    surrogate_section,
    transfer_notes,
)
from robustcheck.engine.validity import validity_section
from robustcheck.errors import DataError, MeasurementError, UsageError, quoted
from robustcheck.exit_codes import ExitCode
from robustcheck.plugins import data_registry
from robustcheck.policy.evaluate import evaluate, verdict
from robustcheck.reports.json_report import read as read_report
from robustcheck.reports.model import (
    AttackMethod,
    AttackResult,
    Check,
    EnvironmentSection,
    GradientSection,
    Interval,
    MinEpsSection,
    ModelSection,
    Report,
    SettingsSection,
    StabilitySection,
    ValiditySection,
)

log = logging.getLogger(__name__)


DomainSource = Literal["declared", "default", "none"]

_REPORTED_THRESHOLD = 0.5
_LOW_ACCURACY_FRACTION = 0.25
"""Clean accuracy below chance + this share of the way to 100 % is treated as a setup error."""
_MAX_ZERO_GRADIENT_FRACTION = 0.5


OpenRecords = Callable[[str], BatchRecords]
"""Opens the per-batch records of the scan with this fingerprint (the execution layer's
checkpoint file: robustcheck.execution.local)."""


@guarded("model", "data")  # foreign exceptions from the model or data: one line, exit 3 or 5
def run(
    config: ScanConfig, *, progress: Progress | None = None, records: OpenRecords | None = None
) -> Report:
    """The scan of ``config`` in this process; ``records`` resumes it from earlier runs."""
    started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    t0 = time.perf_counter()
    measured = measure(config, progress=progress, records=records)
    assert measured.tally is not None, "datasets are never empty"
    return build_report(
        config,
        measured.context,
        measured.tally,
        started_at=started_at,
        duration_s=round(time.perf_counter() - t0, 3),
    )


@dataclass(frozen=True)
class Measured:
    context: ScanContext
    tally: Tally | None
    """``None`` for a shard that holds no batch."""
    fingerprint: str
    starts: list[int]
    """The batch starts scanned."""


@guarded("model", "data")  # foreign exceptions from the model or data: one line, exit 3 or 5
def measure(
    config: ScanConfig,
    *,
    only: frozenset[int] | Callable[[int], frozenset[int]] | None = None,
    progress: Progress | None = None,
    records: OpenRecords | None = None,
) -> Measured:
    """Load the model and the data and scan them (only the batch starts in ``only``, or those it
    returns given the number of samples, for a shard): the tally and what the report needs."""
    config, policy_notes = judged_config(config)
    attacks, attack_notes = build_attacks(config)  # bad attack settings fail before any loading
    attack_notes += policy_notes
    backend = load_backend(
        config.model,
        model_format=config.model_format,
        device=config.device,
        output=config.output,
        allow_external_data=config.allow_external_data,
        threads=config.threads,
        input_name=config.input,
        # A transfer target only scores: the surrogate's gradient crafts the perturbations.
        need_gradient=config.surrogate is None and any(a.needs_gradient for a in attacks),
    )
    surrogate = None
    if config.surrogate is not None:
        surrogate = load_backend(config.surrogate, device=config.device, threads=config.threads)
    else:
        check_min_eps_possible(config, backend)
    data_format = text_data_format(backend, config.data_format, config.data.suffix)
    dataset, manifest = _load_data(
        config.model_copy(update={"data_format": data_format}), _named_input(backend)
    )
    dataset = _with_side_inputs(dataset, backend)
    dataset, text = text_scan(backend, dataset, config.eps, config.tokens)
    check_input_shape(backend, dataset)
    if surrogate is not None:
        check_input_shape(surrogate, dataset)
    value_range = dataset.value_range()
    if text is None:
        domain, domain_source, warnings = resolve_domain(config.input_range, dataset, value_range)
        scale = resolve_scale(config.eps_units, config.eps_scale, dataset)
        warnings += scale_warnings(config.eps, scale, dataset, config.eps_units)
    else:  # a text model, attacked through its embeddings: no clip domain, no per-feature scale
        if config.eps_units != "raw" or config.eps_scale is not None:
            flag = "--eps-scale" if config.eps_scale is not None else "--eps-units"
            raise UsageError(
                f"{flag}: a text model's ε is a budget on its word embeddings, which have no "
                "per-feature scale here",
                hint="leave it out; the report states ε relative to the embedding table's spread",
            )
        domain, domain_source, warnings = None, "none", list(text.notes)
        scale = None
    widest = [e * (1.0 if scale is None else scale.largest) for e in config.eps]
    check_eps_below_range(widest, domain, domain_source)
    warnings += eps_warnings(widest, domain)
    warnings += gradient_path_notes(backend.info, None if surrogate is None else surrogate.info)
    norm = _normalisation(config, dataset)
    check_normalisation_not_doubled(backend.info, norm)
    if norm is not None:
        backend = NormalisedBackend(backend, norm)
    backend = binary = BinaryBackend(backend, config.declared_output_kind)
    binaries = [binary]
    if surrogate is not None:
        binaries.append(BinaryBackend(surrogate, None))
        warnings += transfer_notes(backend.info, surrogate.info)
        backend = TransferBackend(backend, binaries[-1], config.declared_output_kind)
    backend = with_precision(backend, config.precision)
    batch_size = config.batch_size
    if config.auto_batch_size:
        gradient = any(a.needs_gradient for a in attacks) or min_eps_plan(config) is not None
        batch_size = auto_batch_size(backend, dataset, len(config.eps), gradient=gradient)
        config = config.model_copy(update={"batch_size": batch_size})
    plan = Plan(
        eps=config.eps,
        attacks=attacks,
        domain=domain,
        quantiser=quantiser_for(config.deployed_dtype, domain, config.eps),
        batch_size=config.batch_size,
        thresholds=_thresholds(config),
        output_kind=config.declared_output_kind,
        seed=config.seed,
        min_eps=min_eps_plan(config),
        channel_order=config.channel_order,
        noise_eps=noise_eps(config),
        reuse_clean_forward=reuse_clean_forward(backend.info, config),
        tokens=tuple(config.tokens or ()),
        substitutions=None if text is None else text.substitutions,
        vocabulary=None if text is None else text.vocabulary,
        eps_scale=None if scale is None else scale.values,
    )
    fp = _fingerprint(config, backend, dataset, manifest, scale, surrogate)
    if callable(only):
        only = only(dataset.n_samples)
    opened = None
    if records is not None:
        scope = fp if only is None else fingerprint({"scan": fp, "batches": sorted(only)})
        opened = records(scope)
    tally = scan(plan, dataset, backend, progress, opened, only)
    context = ScanContext.of(
        backend.info,
        data=data_section(config, dataset, manifest),
        notes=[
            *backend.info.notes,
            *(note for b in binaries for note in b.note()),
            *dataset.notes,
            *attack_notes,
            *precision_notes(config.precision),
            *warnings,
        ],
        input_range=None if domain is None else Interval(lo=domain.lo, hi=domain.hi),
        input_range_source=domain_source,
        input=input_section(config, norm, scale, None if text is None else text.embedding),
        input_shape=model_input_shape(backend.info.input_shape, dataset.sample_shape),
        normalised=norm is not None,
        value_range=value_range if all(math.isfinite(v) for v in value_range) else None,
        batch_size=batch_size if config.auto_batch_size else None,
        surrogate=None if surrogate is None else surrogate_section(surrogate.info),
    )
    starts = list(range(0, dataset.n_samples, config.batch_size))
    return Measured(context, tally, fp, [s for s in starts if only is None or s in only])


def reuse_clean_forward(info: ModelInfo, config: ScanConfig) -> bool:
    """Whether the gradient pass's scores may stand for the deployed ones: the same module in the
    same dtype (on the CPU both passes gave bit-identical scores: the digits CNN and a ResNet-style
    CNN, TorchScript and .pt2, 1 and 2 threads). Not when the deployed model sees rounded inputs,
    nor under bfloat16, nor for an ONNX twin (onnxruntime is the judge there)."""
    return (
        info.differentiable_path == "same-module"
        and info.embedding is None  # a text model's clean texts are scored on their token ids
        and config.precision == "fp32"
        and config.deployed_dtype in (None, "float32")
    )


def build_report(
    config: ScanConfig, context: ScanContext, tally: Tally, *, started_at: str, duration_s: float
) -> Report:
    """Judge a whole scan's tally: the one place a report is made (unsharded, merged or Ray)."""
    config, _ = judged_config(config)
    info, data = context.info, context.data
    check_ties(tally.stability, info.path)
    attacks, _ = build_attacks(config)
    estimated = not any(a.needs_gradient for a in attacks) and min_eps_plan(config) is None
    warnings = [
        *context.notes,
        *_fail_closed(tally, context, config.allow_low_accuracy, estimated=estimated),
    ]
    class_names = None if data.class_names is None else tuple(data.class_names)
    results = [
        attack_result(label, eps, c, class_names) for (label, eps), c in tally.counts.items()
    ]
    if tally.unrounded is not None:
        results = [
            r.model_copy(
                update={
                    "adversarial_errors_before_rounding": tally.unrounded[
                        (r.attack, r.eps)
                    ].adversarial_errors
                }
            )
            for r in results
        ]
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
    )
    min_eps = None if tally.min_eps is None else min_eps_section(tally.min_eps)
    checks = _evaluate(config, results, class_names, validity, min_eps)
    outcome = verdict(checks, strict=config.strict)
    warnings += _near_threshold(checks, tally.stability, data.n_samples)
    if not fidelity.trusted and not config.allow_low_fidelity:
        outcome = "error"
        warnings.append(
            "the gradient path disagrees with the deployed runtime beyond the tolerance "
            f"({fidelity.clean_max_abs_probability_difference or 0:.2g} clean, "
            f"{fidelity.adversarial_max_abs_probability_difference or 0:.2g} adversarial > "
            f"{fidelity.tolerance:g}): gradients are untrustworthy; verdict is error "
            "(--allow-low-fidelity to accept)"
        )
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
        settings=SettingsSection(
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
        ),
        input=context.input,
        gradient=GradientSection(
            evaluations=tally.gradient_evaluations,
            zero_gradient_samples=tally.zero_gradient,
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


def _named_input(backend: Backend) -> str | None:
    """The attacked input's name when the model names its inputs (ONNX; TorchScript and ``.pt2``
    inputs have no name of their own), for an ``.npz`` array named after it."""
    return backend.info.input_name if backend.info.format == "onnx" else None


def _load_data(config: ScanConfig, input_name: str | None = None) -> tuple[Dataset, str | None]:
    registry, plugins = data_registry()
    broken = [
        f"data-loader plugin {p.name!r} ({p.value}) was skipped: {p.error}"
        for p in plugins
        if p.error
    ]
    dataset = load_dataset(
        config.data,
        registry=registry,
        data_format=config.data_format,
        x_key=config.x_key,
        input_name=input_name,
        y_key=config.y_key,
        label_column=config.label_column,
        feature_columns=config.feature_columns or None,
        labels_file=config.labels_file,
        image_size=config.image_size,
        layout=config.layout,
        class_order=config.class_order,
        tokenizer=config.tokenizer,
        text_column=config.text_column,
    )
    if broken:
        dataset = replace(dataset, notes=(*dataset.notes, *broken))
    if config.class_names_file is not None:
        dataset = replace(dataset, class_names=read_class_names(config.class_names_file))
    if config.limit is None and config.per_class is None:
        return dataset, None
    return select(dataset, limit=config.limit, per_class=config.per_class, seed=config.seed)


def check_min_eps_possible(config: ScanConfig, backend: Backend) -> None:
    """The minimal-ε search follows the clean gradient's sign: a query-only model has none."""
    if min_eps_plan(config) is None or backend.info.differentiable_path != "none":
        return
    flag = "--find-min-eps" if config.find_min_eps else "the policy's min_eps rules"
    raise UsageError(
        f"{flag}: the minimal-ε search follows the input gradient, which {backend.info.path} "
        f"has no path for ({'; '.join(backend.info.blockers)})",
        hint="leave the minimal-ε search out for this model",
    )


def _with_side_inputs(dataset: Dataset, backend: Backend) -> Dataset:
    """A multi-input model's other inputs, read from the data file's arrays named after them."""
    names = backend.info.side_inputs
    if not names:
        return dataset
    if dataset.format != "npz":
        raise DataError(
            f"{dataset.path}: {backend.info.path} has other inputs ({quoted(names)}) besides "
            f"{backend.info.input_name!r}; only an .npz file can hold them (arrays named after them)"
        )
    side = read_side_arrays(Path(dataset.path), names, dataset.source.n)
    return replace(dataset, side=side)


def _normalisation(config: ScanConfig, dataset: Dataset) -> Normalisation | None:
    if config.mean is None and config.std is None:
        return None
    mean = config.mean or [0.0]
    std = config.std or [1.0]
    return Normalisation.build(mean, std, config.layout, dataset.sample_shape)


def _fingerprint(
    config: ScanConfig,
    backend: Backend,
    dataset: Dataset,
    manifest: str | None,
    scale: EpsScale | None = None,
    surrogate: Backend | None = None,
) -> str:
    """Everything that determines the numbers; paths and report options do not."""
    settings = config.measured_settings()
    return fingerprint(
        {
            "model": backend.info.sha256,
            "data": dataset.sha256,
            "manifest": manifest,
            "settings": settings,
            "versions": versions().model_dump(),
            **({} if scale is None else {"eps_scale": scale.section().sha256}),
            **({} if surrogate is None else {"surrogate": surrogate.info.sha256}),
        }
    )


def _thresholds(config: ScanConfig) -> tuple[float, ...]:
    extra = config.policy.high_confidence_thresholds() if config.policy else set()
    fixed = (config.high_confidence, _REPORTED_THRESHOLD)
    return (*fixed, *sorted(extra - set(fixed)))


def check_input_shape(backend: Backend, dataset: Dataset) -> None:
    """The data's per-sample shape must fit the model's declared input (dynamic dims fit anything)."""
    declared = backend.info.input_shape
    sample = dataset.sample_shape
    if not declared:  # TorchScript declares none: the first batch tells (see _scan.scan)
        return
    expected = declared[1:]
    fits = len(expected) == len(sample) and all(
        d is None or d == s for d, s in zip(expected, sample, strict=True)
    )
    if not fits:
        shown = ", ".join(
            "N" if i == 0 else ("?" if d is None else str(d)) for i, d in enumerate(declared)
        )
        raise DataError(
            f"{dataset.path}: samples have shape {list(sample)} but {backend.info.path} expects "
            f"[{shown}] (input {backend.info.input_name!r})",
            hint=shape_hint(dataset.format),
        )


def resolve_domain(
    declared: tuple[float, float] | None,
    dataset: Dataset,
    value_range: tuple[float, float] | None = None,
) -> tuple[InputDomain | None, DomainSource, list[str]]:
    """The clip interval: declared, else [0, 1] when the data lies in it, else none (with a warning).
    ``value_range``: the data's, when already known (it takes a pass over the data)."""
    lo, hi = value_range or dataset.value_range()
    if declared is not None:
        if lo < declared[0] or hi > declared[1]:
            raise DataError(
                f"{dataset.path}: values span [{lo:g}, {hi:g}], outside --input-range "
                f"{declared[0]:g} {declared[1]:g}"
            )
        return InputDomain(*declared), "declared", []
    if lo >= 0.0 and hi <= 1.0:
        return InputDomain(0.0, 1.0), "default", []
    return (
        None,
        "none",
        [
            f"data values span [{lo:g}, {hi:g}] and no --input-range was given: adversarial inputs "
            "are not clipped to a valid domain"
        ],
    )


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
            "samples, so FGSM cannot measure robustness (saturated softmax, quantising input layers "
            f"or an output that does not depend on the input){unit}"
        )
    warnings = []
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
    )


def _exit_code(outcome: str, *, exit_zero: bool) -> ExitCode:
    if outcome == "pass" or (outcome == "fail" and exit_zero):
        return ExitCode.OK
    return ExitCode.POLICY_FAILED if outcome == "fail" else ExitCode.INPUT_ERROR


__all__ = ["Measured", "Progress", "build_report", "measure", "resolve_domain", "run"]
