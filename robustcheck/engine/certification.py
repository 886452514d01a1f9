"""``--certify``: the scan's lower bound on robust accuracy, beside the attacks' upper bound.

Per batch, each sample's ε-box (``x ± ε``, per feature with ``--eps-scale``, clipped to the input
domain, then normalised like the model's input with ``--mean/--std``) goes through the model's
bound graph (robustcheck.certify: IBP or CROWN on the ONNX graph, or on an in-memory ONNX export
of a TorchScript or ``.pt2`` model). A certified sample has a positive lower bound on every
margin over its box, so no input there changes the prediction.

"Certified ≤ attacked" is checked per sample in every batch: a sample proven robust at ε that an
attack fooled at ε would mean an unsound bound or an attack that left the box; either is a bug,
reported as an internal error (exit 6), never as a number.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import numpy as np
import torch

from robustcheck._warnings import deprecations_dropped
from robustcheck.backends.onnx.model_file import read_onnx
from robustcheck.certify import RELATIVE_TOLERANCE, BoundGraph, certify, from_onnx, from_torch
from robustcheck.errors import InternalError, UnsupportedModelError, UsageError
from robustcheck.reports.model import CertificationSection, CertifiedResult

if TYPE_CHECKING:
    from robustcheck.attacks import InputDomain
    from robustcheck.backends.base import Backend
    from robustcheck.data import Dataset
    from robustcheck.engine.config import ScanConfig
    from robustcheck.engine.contract import Normalisation
    from robustcheck.reports.model import AttackResult

log = logging.getLogger(__name__)

Method = Literal["ibp", "crown"]
CERTIFIED = "certified"
"""The pseudo-attack name certification checks carry in the report."""


@dataclass(frozen=True)
class CertifyPlan:
    """What each batch certifies, and against which graph."""

    method: Method
    graph: BoundGraph = field(repr=False)
    mean: np.ndarray | None = None
    std: np.ndarray | None = None
    """``--mean/--std`` (broadcastable to a batch), applied to the box's corners."""
    time_limit: float | None = None
    """``--certify-time-limit``: seconds of certification this process may spend."""
    spent: list[float] = field(default_factory=lambda: [0.0], compare=False)
    """Seconds spent so far (the one mutable cell: one plan per scan process)."""

    def out_of_time(self) -> bool:
        return self.time_limit is not None and self.spent[0] >= self.time_limit


def certify_method(config: ScanConfig) -> Method | None:
    """``--certify``, else the policy's ``certify.method``, else None (no certification)."""
    if config.certify != "off":
        return config.certify
    if config.policy is not None and config.policy.certify is not None:
        return config.policy.certify.method
    return None


def certify_plan(
    config: ScanConfig,
    backend: Backend,
    dataset: Dataset,
    norm: Normalisation | None,
) -> CertifyPlan | None:
    """The bound graph of the scanned model, or None when the scan does not certify. Refuses
    (one line, naming what blocks it) what certification cannot cover."""
    method = certify_method(config)
    if method is None:
        return None
    if config.surrogate is not None:
        raise UsageError(
            "--certify: a transfer scan certifies nothing about MODEL from the surrogate",
            hint="certify in a scan of MODEL without --surrogate",
        )
    if backend.info.embedding is not None or config.tokens:
        raise UsageError("--certify: text models are not certified (their inputs are tokens)")
    if config.deployed_dtype not in (None, "float32"):
        raise UsageError(
            f"--certify: inputs rounded to {config.deployed_dtype} may leave the ε-box the "
            "proof covers",
            hint="certify without --deployed-dtype",
        )
    if backend.info.side_inputs:
        raise UnsupportedModelError(
            f"{backend.info.path}: --certify covers single-input models (this one also takes "
            f"{', '.join(backend.info.side_inputs)})"
        )
    if backend.info.input_dtype not in ("float32", "float64"):
        raise UnsupportedModelError(
            f"{backend.info.path}: --certify proves float32 and float64 models; this one "
            f"computes in {backend.info.input_dtype}, whose rounding the float64 bounds do not "
            "cover"
        )
    example = torch.from_numpy(np.ascontiguousarray(next(dataset.batches(2, only=(0,))).x)).to(
        torch.float32
    )
    graph = _graph(config, backend.info.format, example)
    if int(np.prod(graph.output_shape)) < 2:
        raise UnsupportedModelError(
            f"{backend.info.path}: --certify needs a score per class; the model returns one"
        )
    mean = None if norm is None else np.asarray(norm.mean, dtype=np.float64)
    std = None if norm is None else np.asarray(norm.std, dtype=np.float64)
    return CertifyPlan(method, graph, mean, std, config.certify_time_limit)


def _graph(config: ScanConfig, model_format: str, example: torch.Tensor) -> BoundGraph:
    """The bound graph of the model file (its own ONNX graph, or an in-memory ONNX export)."""
    path, source = config.model, str(config.model)
    if model_format == "onnx":
        proto = read_onnx(path, allow_external_data=config.allow_external_data)
        return from_onnx(proto, tuple(example.shape[1:]), source=source)
    with deprecations_dropped(log, f"loading {path} for certification"):
        if model_format == "torchscript":
            module = torch.jit.load(str(path), map_location="cpu").eval()
            return from_torch(module, example, source=source)
        program = torch.export.load(str(path))
    return from_torch(program, example, source=source)


def certify_batch(
    plan: CertifyPlan,
    x: torch.Tensor,
    y: np.ndarray,
    eps: list[float],
    *,
    domain: InputDomain | None,
    eps_scale: np.ndarray | None,
    fooled: dict[tuple[str, float], np.ndarray],
    first_index: int,
) -> tuple[dict[str, list[int]], float]:
    """Certify the batch at every ε: per ε (``repr``) [samples, certified, not attempted for
    lack of time], and the seconds it took; a certified sample an attack fooled at that ε raises
    :class:`InternalError`."""
    started = time.perf_counter()
    counts: dict[str, list[int]] = {}
    if plan.out_of_time():
        return {repr(float(e)): [len(y), 0, len(y)] for e in eps}, 0.0
    x64 = x.detach().to(device="cpu", dtype=torch.float64)
    labels = torch.from_numpy(np.asarray(y, dtype=np.int64))
    scale = None if eps_scale is None else torch.from_numpy(eps_scale).to(torch.float64)
    for e in eps:
        if plan.out_of_time():
            counts[repr(float(e))] = [len(y), 0, len(y)]
            continue
        begun = time.perf_counter()
        radius = e if scale is None else e * scale
        lower, upper = x64 - radius, x64 + radius
        if domain is not None:
            lower, upper = lower.clamp(domain.lo, domain.hi), upper.clamp(domain.lo, domain.hi)
        if plan.mean is not None and plan.std is not None:
            mean, std = torch.from_numpy(plan.mean), torch.from_numpy(plan.std)
            lower, upper = (lower - mean) / std, (upper - mean) / std
        certificate = certify(
            plan.graph, (lower + upper) / 2, labels, (upper - lower) / 2, method=plan.method
        )
        proven = certificate.certified.numpy()
        _check_sound(proven, fooled, e, first_index)
        counts[repr(float(e))] = [len(proven), int(proven.sum()), 0]
        plan.spent[0] += time.perf_counter() - begun
    return counts, time.perf_counter() - started


def _check_sound(
    proven: np.ndarray, fooled: dict[tuple[str, float], np.ndarray], eps: float, first: int
) -> None:
    for (attack, e), broken in fooled.items():
        if e != eps or len(broken) != len(proven):
            continue
        both = np.flatnonzero(proven & broken)
        if both.size:
            raise InternalError(
                f"certification is contradicted: sample {first + int(both[0])} is certified at "
                f"ε={eps:g} but {attack} fooled the deployed model there ({both.size} such "
                "samples); an unsound bound or an attack outside the ε-box"
            )


def certification_section(
    method: Method,
    certified: dict[str, list[int]],
    seconds: float,
    results: list[AttackResult],
    noise: str,
) -> CertificationSection:
    """The report's section: certified accuracy per ε beside the strongest attack's."""
    rows = []
    total = 0
    for key in sorted(certified, key=float):
        n, proven, timed_out = (*certified[key], 0)[:3]
        e = float(key)
        total += n
        attacked = [r for r in results if r.attack != noise and r.eps == e and r.n > 0]
        strongest = min(attacked, key=lambda r: 1 - r.adversarial_error_rate, default=None)
        robust = None if strongest is None else 1 - strongest.adversarial_error_rate
        accuracy = proven / n if n else 0.0
        rows.append(
            CertifiedResult(
                eps=e,
                n=n,
                certified=proven,
                certified_accuracy=accuracy,
                attacked_robust_accuracy=robust,
                strongest_attack=None if strongest is None else strongest.attack,
                gap=None if robust is None else robust - accuracy,
                refuted=None if strongest is None else strongest.adversarial_errors,
                not_attempted=timed_out,
            )
        )
    seconds = round(seconds, 3)
    return CertificationSection(
        method=method,
        tolerance=RELATIVE_TOLERANCE,
        duration_s=seconds,
        samples_per_s=round(total / seconds, 1) if seconds > 0 else None,
        results=rows,
    )
