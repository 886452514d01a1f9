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

from robustcheck._warnings import DEPRECATED, recorded_warnings
from robustcheck.attacks import Attack, InputDomain
from robustcheck.backends.base import Backend, ModelInfo
from robustcheck.backends.loader import load_backend
from robustcheck.boundary import guarded
from robustcheck.data import Dataset
from robustcheck.engine.attack_plan import (
    build_attacks,
    min_eps_plan,
    noise_eps,
)
from robustcheck.engine.batch_size import auto_batch_size
from robustcheck.engine.binary import BinaryBackend
from robustcheck.engine.budget import EpsScale, resolve_scale, scale_warnings
from robustcheck.engine.certification import certify_plan
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
from robustcheck.engine.inputs import (
    DomainSource,
    check_input_shape,
    check_min_eps_possible,
    load_data,
    named_input,
    normalisation,
    resolve_domain,
    with_side_inputs,
)
from robustcheck.engine.judge import build_report
from robustcheck.engine.loop import Progress, scan
from robustcheck.engine.memory import query_rows
from robustcheck.engine.passes import call_sizes, with_call_rows
from robustcheck.engine.precision import precision_notes, with_precision
from robustcheck.engine.probe import probe_plan
from robustcheck.engine.sections import (
    data_section,
    input_section,
    model_input_shape,
    versions,
)
from robustcheck.engine.state import BatchRecords, fingerprint
from robustcheck.engine.tally import Plan, Tally
from robustcheck.engine.text import TextScan, text_data_format, text_scan
from robustcheck.engine.transfer import (
    TransferBackend,
    gradient_path_notes,
    surrogate_section,
    transfer_notes,
)
from robustcheck.errors import UsageError
from robustcheck.reports.json_report import read as read_report
from robustcheck.reports.model import (
    Interval,
    Report,
)

log = logging.getLogger(__name__)


_REPORTED_THRESHOLD = 0.5


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
    if config.baseline is not None and config.policy is not None:
        read_report(config.baseline)  # an unreadable baseline fails before the scan, not after
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


@dataclass
class _Inputs:
    """The data of a scan, checked against its model, and what was decided about it."""

    dataset: Dataset
    manifest: str | None
    text: TextScan | None
    domain: InputDomain | None
    domain_source: DomainSource
    scale: EpsScale | None
    warnings: list[str]
    value_range: tuple[float, float]


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
    attacks, attack_notes = build_attacks(config)  # bad attack settings fail before any loading
    target, surrogate = _load_models(config, attacks)
    inputs = _inputs(config, target, surrogate)
    norm = normalisation(config, inputs.dataset)
    check_normalisation_not_doubled(target.info, norm)
    # What the model, torch or onnxruntime warns while running the scan is reported, not printed
    # raw between the progress lines (a deprecation inside a dependency: dropped).
    with recorded_warnings([DEPRECATED]) as raised:
        backend, binaries = _wrapped(config, target, surrogate, norm, inputs.warnings)
        batch_size = config.batch_size
        if config.auto_batch_size:
            gradient = any(a.needs_gradient for a in attacks) or min_eps_plan(config) is not None
            batch_size = auto_batch_size(
                backend, inputs.dataset, len(config.eps), gradient=gradient
            )
            config = config.model_copy(update={"batch_size": batch_size})
        rows = query_rows(
            backend, inputs.dataset, attacks,
            max_memory_mb=config.max_memory_mb, batch_size=config.batch_size, n_eps=len(config.eps),
        )  # fmt: skip
        certify = certify_plan(config, target, inputs.dataset, norm)
        plan = replace(_plan(config, attacks, backend, inputs), query_rows=rows, certify=certify)
        backend, plan = _sized_calls(config, backend, inputs, plan)
        fp = _fingerprint(config, backend, inputs.dataset, inputs.manifest, inputs.scale, surrogate)
        if callable(only):
            only = only(inputs.dataset.n_samples)
        opened = None
        if records is not None:
            scope = fp if only is None else fingerprint({"scan": fp, "batches": sorted(only)})
            opened = records(scope)
        tally = scan(plan, inputs.dataset, backend, progress, opened, only)
    notes = [
        *backend.info.notes,
        *(note for b in binaries for note in b.note()),
        *inputs.dataset.notes,
        *attack_notes,
        *precision_notes(config.precision),
        *inputs.warnings,
        *(f"a warning was raised while the scan ran the model: {note}" for note in raised),
    ]
    context = _context(config, backend, surrogate, inputs, norm, notes, batch_size)
    starts = list(range(0, inputs.dataset.n_samples, config.batch_size))
    return Measured(context, tally, fp, [s for s in starts if only is None or s in only])


def _sized_calls(
    config: ScanConfig, backend: Backend, inputs: _Inputs, plan: Plan
) -> tuple[Backend, Plan]:
    """The backend with its runtime calls, and the plan with its forward+backward passes, sized
    to the memory budget (robustcheck.engine.passes)."""
    calls, passes = call_sizes(
        backend,
        inputs.dataset,
        max_memory_mb=config.max_memory_mb,
        batch_size=config.batch_size,
        n_eps=len(config.eps),
        gradients=plan.needs_gradient,
    )
    # A model's kernels may round a row differently at another batch size: the gradient pass's
    # scores stand for the deployed ones only when both call the model on as many rows.
    reuse = plan.reuse_clean_forward and passes == calls
    plan = replace(plan, gradient_rows=passes, reuse_clean_forward=reuse)
    return with_call_rows(backend, calls), plan


def _load_models(config: ScanConfig, attacks: list[Attack]) -> tuple[Backend, Backend | None]:
    """The model, and a transfer scan's surrogate."""
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
    if config.surrogate is None:
        check_min_eps_possible(config, backend)
        return backend, None
    return backend, load_backend(config.surrogate, device=config.device, threads=config.threads)


def _inputs(config: ScanConfig, backend: Backend, surrogate: Backend | None) -> _Inputs:
    """Load the data, check it against the model(s), and decide its domain and ε scale."""
    data_format = text_data_format(backend, config.data_format, config.data.suffix)
    dataset, manifest = load_data(
        config.model_copy(update={"data_format": data_format}), named_input(backend)
    )
    dataset = with_side_inputs(dataset, backend)
    dataset, text = text_scan(backend, dataset, config.eps, config.tokens)
    for model in (backend, surrogate):
        if model is not None:
            check_input_shape(model, dataset)
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
        domain, domain_source, warnings, scale = None, "none", list(text.notes), None
    widest = [e * (1.0 if scale is None else scale.largest) for e in config.eps]
    check_eps_below_range(widest, domain, domain_source)
    warnings += eps_warnings(widest, domain)
    warnings += gradient_path_notes(backend.info, None if surrogate is None else surrogate.info)
    return _Inputs(dataset, manifest, text, domain, domain_source, scale, warnings, value_range)


def _wrapped(
    config: ScanConfig,
    backend: Backend,
    surrogate: Backend | None,
    norm: Normalisation | None,
    warnings: list[str],
) -> tuple[Backend, list[BinaryBackend]]:
    """The backend the batch loop runs: normalised outside the model, binary outputs read as two
    classes, a transfer pair, and the gradient precision; ``warnings`` gains the transfer notes."""
    if norm is not None:
        backend = NormalisedBackend(backend, norm)
    backend = binary = BinaryBackend(backend, config.declared_output_kind)
    binaries = [binary]
    if surrogate is not None:
        binaries.append(BinaryBackend(surrogate, None))
        warnings += transfer_notes(backend.info, surrogate.info)
        backend = TransferBackend(backend, binaries[-1], config.declared_output_kind)
    return with_precision(backend, config.precision), binaries


def _plan(config: ScanConfig, attacks: list[Attack], backend: Backend, inputs: _Inputs) -> Plan:
    text, scale = inputs.text, inputs.scale
    return Plan(
        eps=config.eps,
        attacks=attacks,
        domain=inputs.domain,
        quantiser=quantiser_for(config.deployed_dtype, inputs.domain, config.eps),
        batch_size=config.batch_size,
        thresholds=_thresholds(config),
        output_kind=config.declared_output_kind,
        seed=config.seed,
        min_eps=min_eps_plan(config),
        probe=probe_plan(attacks, inputs.dataset.n_samples, _probes(config)),
        channel_order=config.channel_order,
        noise_eps=noise_eps(config),
        reuse_clean_forward=reuse_clean_forward(backend.info, config),
        tokens=tuple(config.tokens or ()),
        substitutions=None if text is None else text.substitutions,
        vocabulary=None if text is None else text.vocabulary,
        eps_scale=None if scale is None else scale.values,
    )


def _probes(config: ScanConfig) -> bool:
    """Whether the FGSM-gap probe may run: asked for, and not in a transfer scan (where the
    gradient is the surrogate's, not the model's)."""
    return config.gap_probe and config.surrogate is None


def _context(
    config: ScanConfig,
    backend: Backend,
    surrogate: Backend | None,
    inputs: _Inputs,
    norm: Normalisation | None,
    notes: list[str],
    batch_size: int,
) -> ScanContext:
    """What the report needs to know about the scan besides its tally."""
    dataset, domain, text, value_range = (
        inputs.dataset,
        inputs.domain,
        inputs.text,
        inputs.value_range,
    )
    return ScanContext.of(
        backend.info,
        data=data_section(config, dataset, inputs.manifest),
        notes=notes,
        input_range=None if domain is None else Interval(lo=domain.lo, hi=domain.hi),
        input_range_source=inputs.domain_source,
        input=input_section(config, norm, inputs.scale, None if text is None else text.embedding),
        input_shape=model_input_shape(backend.info.input_shape, dataset.sample_shape),
        normalised=norm is not None,
        value_range=value_range if all(math.isfinite(v) for v in value_range) else None,
        batch_size=batch_size if config.auto_batch_size else None,
        surrogate=None if surrogate is None else surrogate_section(surrogate.info),
    )


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


__all__ = ["Measured", "Progress", "build_report", "measure", "resolve_domain", "run"]
