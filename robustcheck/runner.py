"""``run(config) -> Report``: load the model, stream the data, attack, measure, judge.

No printing and no exiting here: the CLI does both.
"""

from __future__ import annotations

import logging
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from typing import Literal

import numpy as np

from robustcheck._examples import collect_examples
from robustcheck._results import attack_result
from robustcheck._version import __version__
from robustcheck.attacks import (
    FGSM,
    AttackDirection,
    InputDomain,
    RandomSignNoise,
    SignAttack,
    perturb,
)
from robustcheck.backends.base import Backend
from robustcheck.backends.loader import load_backend
from robustcheck.backends.output import OutputKind, detect_output_kind, to_probabilities
from robustcheck.config import ScanConfig
from robustcheck.data import Dataset, load_dataset
from robustcheck.errors import DataError, MeasurementError
from robustcheck.exit_codes import ExitCode
from robustcheck.fidelity import Agreement, fidelity_section, tolerance_for
from robustcheck.metrics import Counts
from robustcheck.policy.evaluate import evaluate, verdict
from robustcheck.policy.load import canonical_dict, policy_sha256
from robustcheck.reports.json_report import read as read_report
from robustcheck.reports.model import (
    AttackResult,
    Check,
    DataSection,
    EnvironmentSection,
    ExampleImage,
    GradientSection,
    Interval,
    ModelSection,
    PolicySection,
    Report,
    SettingsSection,
    StabilitySection,
    Versions,
)
from robustcheck.sanity import (
    FRAGILE_MARGIN,
    Stability,
    check_finite,
    check_input_dependence,
    check_repeatable,
    check_ties,
)

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
"""Called with (samples done, samples total) after each batch."""

DomainSource = Literal["declared", "default", "none"]

_REPORTED_THRESHOLD = 0.5
_MAX_ZERO_GRADIENT_FRACTION = 0.5


@dataclass
class _Tally:
    kind: OutputKind
    n_classes: int
    counts: dict[tuple[str, float], Counts]
    zero_gradient: int = 0
    clean: Agreement = field(default_factory=Agreement)
    adversarial: Agreement = field(default_factory=Agreement)
    examples: list[ExampleImage] = field(default_factory=list)
    stability: Stability = field(default_factory=Stability)
    warnings: list[str] = field(default_factory=list)


def run(config: ScanConfig, *, progress: Progress | None = None) -> Report:
    started_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
    t0 = time.perf_counter()
    backend = load_backend(
        config.model,
        model_format=config.model_format,
        device=config.device,
        output=config.output,
        allow_external_data=config.allow_external_data,
    )
    dataset = load_dataset(config.data, x_key=config.x_key, y_key=config.y_key)
    check_input_shape(backend, dataset)
    domain, domain_source, warnings = resolve_domain(config.input_range, dataset)
    attacks: list[SignAttack] = [FGSM()]
    if config.noise_baseline:
        attacks.append(RandomSignNoise(config.seed))
    tally = _scan(config, dataset, backend, attacks, domain, progress)
    tally.warnings[:0] = [*backend.info.notes, *warnings]
    _fail_closed(tally, dataset.n_samples, backend)
    if dataset.y is None:
        tally.warnings.append(
            "the data has no labels: the model's clean predictions were used as labels"
        )
    results = [
        attack_result(name, eps, c, dataset.class_names) for (name, eps), c in tally.counts.items()
    ]
    tolerance = tolerance_for(backend.info, config.fidelity_tolerance)
    fidelity = fidelity_section(backend.info, tally.clean, tally.adversarial, tolerance)
    checks = _evaluate(config, results, dataset)
    outcome = verdict(checks, strict=config.strict)
    tally.warnings += _near_threshold(checks, tally.stability, dataset.n_samples)
    if not fidelity.trusted and not config.allow_low_fidelity:
        outcome = "error"
        tally.warnings.append(
            "the gradient path disagrees with the deployed runtime beyond the tolerance "
            f"({fidelity.clean_max_abs_probability_difference:.2g} clean, "
            f"{fidelity.adversarial_max_abs_probability_difference or 0:.2g} adversarial > "
            f"{fidelity.tolerance:g}): gradients are untrustworthy; verdict is error "
            "(--allow-low-fidelity to accept)"
        )
    return Report(
        complete=True,
        verdict=outcome,
        exit_code=int(_exit_code(outcome, exit_zero=config.exit_zero)),
        model=ModelSection(
            path=backend.info.path,
            sha256=backend.info.sha256,
            format=backend.info.format,
            output_kind=tally.kind.value,
            output_kind_source="declared" if config.output_kind else "detected",
            n_classes=tally.n_classes,
            input_shape=list(backend.info.input_shape),
        ),
        data=DataSection(
            path=dataset.path,
            sha256=dataset.sha256,
            format=dataset.format,
            n_samples=dataset.n_samples,
            labels="provided" if dataset.y is not None else "predicted",
            x_key=dataset.x_key,
            y_key=dataset.y_key,
            class_names=None if dataset.class_names is None else list(dataset.class_names),
        ),
        settings=SettingsSection(
            eps=config.eps,
            attacks=[a.name for a in attacks],
            batch_size=config.batch_size,
            seed=config.seed,
            high_confidence_threshold=config.high_confidence,
            input_range=None if domain is None else Interval(lo=domain.lo, hi=domain.hi),
            input_range_source=domain_source,
        ),
        gradient=GradientSection(
            evaluations=backend.gradient_evaluations,
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
        policy=_policy_section(config),
        examples=tally.examples,
        warnings=tally.warnings,
        versions=_versions(),
        environment=EnvironmentSection(
            device=backend.info.device, threads=backend.info.threads, deterministic=True
        ),
        started_at=started_at,
        duration_s=round(time.perf_counter() - t0, 3),
    )


def check_input_shape(backend: Backend, dataset: Dataset) -> None:
    """The data's per-sample shape must fit the model's declared input (dynamic dims fit anything)."""
    declared = backend.info.input_shape
    sample = dataset.sample_shape
    if not declared:
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
            hint="check the layout (NCHW vs NHWC) and image size",
        )


def resolve_domain(
    declared: tuple[float, float] | None, dataset: Dataset
) -> tuple[InputDomain | None, DomainSource, list[str]]:
    """The clip interval: declared, else [0, 1] when the data lies in it, else none (with a warning)."""
    lo, hi = dataset.value_range()
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


def _scan(
    config: ScanConfig,
    dataset: Dataset,
    backend: Backend,
    attacks: list[SignAttack],
    domain: InputDomain | None,
    progress: Progress | None,
) -> _Tally:
    tally: _Tally | None = None
    first = True
    where = backend.info.path
    for batch in dataset.batches(config.batch_size):
        clean = backend.scores(batch.x)
        check_finite(clean, where, batch.start)
        if tally is None:
            check_repeatable(clean, backend.scores(batch.x), where)
            check_input_dependence(batch.x, clean, where)
            tally = _start_tally(config, attacks, clean)
        clean_probs = to_probabilities(clean, tally.kind)
        tally.stability.add(clean_probs)
        y = batch.y if batch.y is not None else np.argmax(clean_probs, axis=1)
        _check_labels(dataset, y, tally.n_classes)
        for attack in attacks:
            direction = attack.direction(backend, batch.x, y, tally.kind, batch_start=batch.start)
            _record_direction(tally, direction, clean_probs)
            for eps in config.eps:
                x_adv = perturb(batch.x, direction, eps, domain)
                adv_probs = to_probabilities(backend.scores(x_adv), tally.kind)
                tally.counts[(attack.name, eps)].add_batch(y, clean_probs, adv_probs)
                if attack.name == "fgsm" and eps == config.eps[-1]:
                    collect_examples(
                        tally.examples,
                        batch.indices,
                        batch.x,
                        y,
                        clean_probs,
                        x_adv,
                        adv_probs,
                        eps,
                    )
                if first and direction.model_scores is not None:
                    twin = to_probabilities(backend.differentiable_scores(x_adv), tally.kind)
                    tally.adversarial.add(twin, adv_probs)
        first = False
        if progress is not None:
            progress(min(batch.start + config.batch_size, dataset.n_samples), dataset.n_samples)
    assert tally is not None, "datasets are never empty"
    check_ties(tally.stability, where)
    return tally


def _start_tally(config: ScanConfig, attacks: list[SignAttack], clean: np.ndarray) -> _Tally:
    kind = config.output_kind or detect_output_kind(clean)
    n_classes = int(clean.shape[1])
    extra = config.policy.high_confidence_thresholds() if config.policy else set()
    thresholds = (
        config.high_confidence,
        _REPORTED_THRESHOLD,
        *sorted(extra - {config.high_confidence, _REPORTED_THRESHOLD}),
    )
    counts = {(a.name, e): Counts(n_classes, thresholds) for a in attacks for e in config.eps}
    return _Tally(kind=kind, n_classes=n_classes, counts=counts)


def _record_direction(tally: _Tally, direction: AttackDirection, clean_probs: np.ndarray) -> None:
    if direction.model_scores is None:
        return
    rows = direction.signs.reshape(direction.signs.shape[0], -1)
    tally.zero_gradient += int((~rows.any(axis=1)).sum())
    tally.clean.add(to_probabilities(direction.model_scores, tally.kind), clean_probs)


def _check_labels(dataset: Dataset, y: np.ndarray, n_classes: int) -> None:
    if y.size and int(y.max()) >= n_classes:
        raise DataError(
            f"{dataset.path}: label {int(y.max())} is outside the model's {n_classes} classes (0..{n_classes - 1})"
        )


def _fail_closed(tally: _Tally, n: int, backend: Backend) -> None:
    """Refuse results that measured nothing: a FGSM that cannot move most samples."""
    if tally.zero_gradient > _MAX_ZERO_GRADIENT_FRACTION * n:
        raise MeasurementError(
            f"{backend.info.path}: the input gradient is exactly zero for {tally.zero_gradient} of {n} "
            "samples, so FGSM cannot measure robustness (saturated softmax, quantising input layers "
            "or an output that does not depend on the input)"
        )
    if tally.zero_gradient:
        tally.warnings.append(
            f"{tally.zero_gradient} of {n} samples have an all-zero input gradient; FGSM leaves them unchanged"
        )


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


def _evaluate(config: ScanConfig, results: list[AttackResult], dataset: Dataset) -> list[Check]:
    if config.policy is None:
        return []
    baseline = read_report(config.baseline) if config.baseline is not None else None
    names = None if dataset.class_names is None else list(dataset.class_names)
    return evaluate(config.policy, results, baseline=baseline, class_names=names)


def _policy_section(config: ScanConfig) -> PolicySection | None:
    if config.policy is None:
        return None
    return PolicySection(
        source=config.policy_source or "api",
        sha256=policy_sha256(config.policy),
        resolved=canonical_dict(config.policy),
    )


def _exit_code(outcome: str, *, exit_zero: bool) -> ExitCode:
    if outcome == "pass" or (outcome == "fail" and exit_zero):
        return ExitCode.OK
    return ExitCode.POLICY_FAILED if outcome == "fail" else ExitCode.INPUT_ERROR


def _versions() -> Versions:
    def version(dist: str) -> str | None:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return None

    return Versions(
        robustcheck=__version__,
        python=platform.python_version(),
        numpy=np.__version__,
        torch=version("torch"),
        onnx=version("onnx"),
        onnxruntime=version("onnxruntime-gpu") or version("onnxruntime"),
    )


__all__ = ["Progress", "resolve_domain", "run"]
