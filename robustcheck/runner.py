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
from robustcheck.config import DEFAULT_FIDELITY_TOLERANCE, FLOAT16_FIDELITY_TOLERANCE, ScanConfig
from robustcheck.data import Batch, Dataset, load_dataset
from robustcheck.errors import DataError, MeasurementError
from robustcheck.exit_codes import ExitCode
from robustcheck.metrics import Counts, correct_mask
from robustcheck.policy.evaluate import evaluate, verdict
from robustcheck.reports.examples import make_example
from robustcheck.reports.model import (
    DataSection,
    EnvironmentSection,
    ExampleImage,
    FidelitySection,
    GradientSection,
    Interval,
    ModelSection,
    Report,
    SettingsSection,
    Versions,
)

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
"""Called with (samples done, samples total) after each batch."""

DomainSource = Literal["declared", "default", "none"]

_REPORTED_THRESHOLD = 0.5
MAX_EXAMPLES = 8
_MAX_ZERO_GRADIENT_FRACTION = 0.5


@dataclass
class _Agreement:
    """Differentiable path vs deployed runtime, accumulated over compared samples."""

    max_abs_diff: float = 0.0
    top1_agree: int = 0
    n: int = 0

    def add(self, differentiable: np.ndarray, deployed: np.ndarray) -> None:
        with np.errstate(invalid="ignore"):
            diff = np.abs(differentiable - deployed)
        worst = float(np.max(diff)) if diff.size else 0.0
        self.max_abs_diff = max(self.max_abs_diff, worst if np.isfinite(worst) else np.inf)
        agree = np.argmax(differentiable, axis=1) == np.argmax(deployed, axis=1)
        self.top1_agree += int(agree.sum())
        self.n += int(deployed.shape[0])

    @property
    def top1(self) -> float:
        return self.top1_agree / self.n if self.n else 1.0


@dataclass
class _Tally:
    kind: OutputKind
    n_classes: int
    counts: dict[tuple[str, float], Counts]
    zero_gradient: int = 0
    clean: _Agreement = field(default_factory=_Agreement)
    adversarial: _Agreement = field(default_factory=_Agreement)
    examples: list[ExampleImage] = field(default_factory=list)
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
    fidelity = _fidelity(tally, backend, _tolerance(config, backend))
    checks = evaluate(config.policy, results) if config.policy else []
    outcome = verdict(checks)
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
        exit_code=int(_exit_code(outcome)),
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
        fidelity=fidelity,
        results=results,
        checks=checks,
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
    for batch in dataset.batches(config.batch_size):
        clean = backend.scores(batch.x)
        if tally is None:
            tally = _start_tally(config, attacks, clean)
        clean_probs = to_probabilities(clean, tally.kind)
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
                    _collect_examples(tally, batch, y, clean_probs, x_adv, adv_probs, eps)
                if first and direction.model_scores is not None:
                    twin = to_probabilities(backend.differentiable_scores(x_adv), tally.kind)
                    tally.adversarial.add(twin, adv_probs)
        first = False
        if progress is not None:
            progress(min(batch.start + config.batch_size, dataset.n_samples), dataset.n_samples)
    assert tally is not None, "datasets are never empty"
    return tally


def _start_tally(config: ScanConfig, attacks: list[SignAttack], clean: np.ndarray) -> _Tally:
    kind = config.output_kind or detect_output_kind(clean)
    n_classes = int(clean.shape[1])
    thresholds = (config.high_confidence, _REPORTED_THRESHOLD)
    counts = {(a.name, e): Counts(n_classes, thresholds) for a in attacks for e in config.eps}
    return _Tally(kind=kind, n_classes=n_classes, counts=counts)


def _record_direction(tally: _Tally, direction: AttackDirection, clean_probs: np.ndarray) -> None:
    if direction.model_scores is None:
        return
    rows = direction.signs.reshape(direction.signs.shape[0], -1)
    tally.zero_gradient += int((~rows.any(axis=1)).sum())
    tally.clean.add(to_probabilities(direction.model_scores, tally.kind), clean_probs)


def _tolerance(config: ScanConfig, backend: Backend) -> float:
    if config.fidelity_tolerance is not None:
        return config.fidelity_tolerance
    if backend.info.input_dtype == "float16":
        return FLOAT16_FIDELITY_TOLERANCE
    return DEFAULT_FIDELITY_TOLERANCE


def _fidelity(tally: _Tally, backend: Backend, tolerance: float) -> FidelitySection:
    worst = max(tally.clean.max_abs_diff, tally.adversarial.max_abs_diff)
    return FidelitySection(
        paths=backend.info.differentiable_path,  # type: ignore[arg-type]
        clean_max_abs_probability_difference=tally.clean.max_abs_diff,
        clean_top1_agreement=tally.clean.top1,
        adversarial_max_abs_probability_difference=(
            tally.adversarial.max_abs_diff if tally.adversarial.n else None
        ),
        adversarial_top1_agreement=tally.adversarial.top1 if tally.adversarial.n else None,
        tolerance=tolerance,
        trusted=worst <= tolerance,
    )


def _image_layout(sample_shape: tuple[int, ...]) -> str:
    if len(sample_shape) == 3 and sample_shape[-1] in (1, 3) and sample_shape[0] not in (1, 3):
        return "NHWC"
    return "NCHW"


def _collect_examples(
    tally: _Tally,
    batch: Batch,
    y: np.ndarray,
    clean_probs: np.ndarray,
    x_adv: np.ndarray,
    adv_probs: np.ndarray,
    eps: float,
) -> None:
    """The first few samples the attack flipped, as images for the HTML report."""
    if len(tally.examples) >= MAX_EXAMPLES:
        return
    flipped = correct_mask(clean_probs, y) & ~correct_mask(adv_probs, y)
    layout = _image_layout(tuple(batch.x.shape[1:]))
    for i in np.flatnonzero(flipped)[: MAX_EXAMPLES - len(tally.examples)]:
        example = make_example(
            int(batch.indices[i]), int(y[i]), eps, batch.x[i], x_adv[i],
            int(np.argmax(clean_probs[i])), float(np.max(clean_probs[i])),
            int(np.argmax(adv_probs[i])), float(np.max(adv_probs[i])), layout=layout,
        )  # fmt: skip
        if example is None:
            return
        tally.examples.append(example)


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


def _exit_code(outcome: str) -> ExitCode:
    return {"pass": ExitCode.OK, "fail": ExitCode.POLICY_FAILED}.get(outcome, ExitCode.INPUT_ERROR)


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
