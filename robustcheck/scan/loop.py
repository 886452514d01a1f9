"""The scan loop: stream batches, attack once per batch, score every ε on the deployed path."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from robustcheck.attacks import AttackDirection, InputDomain, SignAttack, perturb
from robustcheck.backends.base import Backend
from robustcheck.backends.output import OutputKind, detect_output_kind, to_probabilities
from robustcheck.data import Batch, Dataset
from robustcheck.errors import DataError, ModelRejectedBatch
from robustcheck.metrics import Counts
from robustcheck.reports.model import ExampleImage
from robustcheck.scan.checkpoint import Checkpoint
from robustcheck.scan.contract import Quantiser, check_eps_zero
from robustcheck.scan.examples import MAX_EXAMPLES, collect_examples
from robustcheck.scan.fidelity import Agreement
from robustcheck.scan.sanity import (
    Stability,
    check_finite,
    check_input_dependence,
    check_repeatable,
    check_ties,
)

Progress = Callable[[int, int], None]
"""Called with (samples done, samples total) after each batch."""


@dataclass(frozen=True)
class Plan:
    eps: list[float]
    attacks: list[SignAttack]
    domain: InputDomain | None
    quantiser: Quantiser | None
    batch_size: int
    thresholds: tuple[float, ...]
    output_kind: OutputKind | None


@dataclass
class Tally:
    kind: OutputKind
    n_classes: int
    counts: dict[tuple[str, float], Counts]
    unrounded: dict[tuple[str, float], Counts] | None
    """Counts before rounding to the deployed dtype, when there is one."""
    zero_gradient: int = 0
    gradient_evaluations: int = 0
    clean: Agreement = field(default_factory=Agreement)
    adversarial: Agreement = field(default_factory=Agreement)
    examples: list[ExampleImage] = field(default_factory=list)
    stability: Stability = field(default_factory=Stability)


def scan(
    plan: Plan,
    dataset: Dataset,
    backend: Backend,
    progress: Progress | None,
    checkpoint: Checkpoint | None = None,
) -> Tally:
    """Scan every batch, merging per-batch tallies; batches in ``checkpoint`` are not redone."""
    total: Tally | None = None
    first = True
    starts = []
    for batch in dataset.batches(plan.batch_size):
        starts.append(batch.start)
        if checkpoint is not None and batch.start in checkpoint.done:
            part = tally_from_state(checkpoint.done[batch.start], plan)
        else:
            # Examples are the first flipped samples in file order: later batches make none
            # once earlier ones have enough (rendering them is a fifth of a small scan's time).
            wanted = MAX_EXAMPLES - (0 if total is None else len(total.examples))
            try:
                part = _scan_batch(
                    plan,
                    dataset,
                    backend,
                    batch,
                    first,
                    None if total is None else total.kind,
                    wanted,
                )
            except ModelRejectedBatch as exc:
                if total is not None:
                    raise
                # The model ran on none of the data: its shape or layout is the likely cause.
                raise DataError(
                    f"{dataset.path}: samples have shape {list(dataset.sample_shape)}, on which "
                    f"{backend.info.path} fails ({exc.reason})",
                    hint="check the layout (NCHW vs NHWC) and image size",
                ) from None
            first = False
            if checkpoint is not None:
                checkpoint.record(batch.start, tally_state(part))
                checkpoint.done[batch.start] = {}
        total = part if total is None else merge(total, part)
        if progress is not None:
            progress(min(batch.start + plan.batch_size, dataset.n_samples), dataset.n_samples)
    assert total is not None, "datasets are never empty"
    if checkpoint is not None:
        checkpoint.verify_complete(starts)
    check_ties(total.stability, backend.info.path)
    return total


def _scan_batch(
    plan: Plan,
    dataset: Dataset,
    backend: Backend,
    batch: Batch,
    first: bool,
    kind: OutputKind | None,
    examples_wanted: int,
) -> Tally:
    where = backend.info.path
    x = batch.x
    if plan.quantiser is not None and plan.quantiser.dtype == "float16":
        x = plan.quantiser(x)  # the deployed model only ever sees float16 values
    clean = backend.scores(x)
    check_finite(clean, where, batch.start)
    if first:
        check_repeatable(clean, backend.scores(x), where)
        check_input_dependence(x, clean, where)
    tally = _start(plan, clean, kind)
    clean_probs = to_probabilities(clean, tally.kind)
    tally.stability.add(clean_probs)
    y = batch.y if batch.y is not None else np.argmax(clean_probs, axis=1)
    _check_labels(dataset, y, tally.n_classes)
    for attack in plan.attacks:
        direction = attack.direction(backend, x, y, tally.kind, batch_start=batch.start)
        _record_direction(tally, direction, clean_probs)
        if first and attack is plan.attacks[0]:
            replay = backend.scores(_adversarial(plan, x, direction, 0.0))
            check_eps_zero(clean, replay, str(dataset.path))
        for eps in plan.eps:
            _score(
                plan,
                tally,
                backend,
                attack,
                direction,
                eps,
                x,
                y,
                clean_probs,
                batch.indices,
                first,
                examples_wanted,
            )
    return tally


def _adversarial(plan: Plan, x: np.ndarray, direction: AttackDirection, eps: float) -> np.ndarray:
    adv = perturb(x, direction, eps, plan.domain)
    return adv if plan.quantiser is None else plan.quantiser(adv)


def _score(
    plan: Plan,
    tally: Tally,
    backend: Backend,
    attack: SignAttack,
    direction: AttackDirection,
    eps: float,
    x: np.ndarray,
    y: np.ndarray,
    clean_probs: np.ndarray,
    indices: np.ndarray,
    first: bool,
    examples_wanted: int,
) -> None:
    key = (attack.name, eps)
    x_adv = _adversarial(plan, x, direction, eps)
    adv_probs = to_probabilities(backend.scores(x_adv), tally.kind)
    tally.counts[key].add_batch(y, clean_probs, adv_probs)
    if tally.unrounded is not None:
        raw = perturb(x, direction, eps, plan.domain)
        tally.unrounded[key].add_batch(
            y, clean_probs, to_probabilities(backend.scores(raw), tally.kind)
        )
    if examples_wanted > 0 and attack.name == "fgsm" and eps == plan.eps[-1]:
        collect_examples(
            tally.examples, indices, x, y, clean_probs, x_adv, adv_probs, eps, examples_wanted
        )
    if first and direction.model_scores is not None:
        twin = to_probabilities(backend.differentiable_scores(x_adv), tally.kind)
        tally.adversarial.add(twin, adv_probs)


def _start(plan: Plan, clean: np.ndarray, kind: OutputKind | None) -> Tally:
    kind = kind or plan.output_kind or detect_output_kind(clean)
    n_classes = int(clean.shape[1])
    keys = [(a.name, e) for a in plan.attacks for e in plan.eps]
    counts = {k: Counts(n_classes, plan.thresholds) for k in keys}
    unrounded = None
    if plan.quantiser is not None and plan.quantiser.dtype == "uint8":
        unrounded = {k: Counts(n_classes, plan.thresholds) for k in keys}
    return Tally(kind=kind, n_classes=n_classes, counts=counts, unrounded=unrounded)


def _record_direction(tally: Tally, direction: AttackDirection, clean_probs: np.ndarray) -> None:
    if direction.model_scores is None:
        return
    tally.gradient_evaluations += 1
    rows = direction.signs.reshape(direction.signs.shape[0], -1)
    tally.zero_gradient += int((~rows.any(axis=1)).sum())
    tally.clean.add(to_probabilities(direction.model_scores, tally.kind), clean_probs)


def _check_labels(dataset: Dataset, y: np.ndarray, n_classes: int) -> None:
    if y.size and int(y.max()) >= n_classes:
        raise DataError(
            f"{dataset.path}: label {int(y.max())} is outside the model's {n_classes} classes "
            f"(0..{n_classes - 1})"
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
        gradient_evaluations=a.gradient_evaluations + b.gradient_evaluations,
        clean=a.clean.merge(b.clean),
        adversarial=a.adversarial.merge(b.adversarial),
        examples=(a.examples + b.examples)[:MAX_EXAMPLES],
        stability=a.stability.merge(b.stability),
    )


def tally_state(tally: Tally) -> dict[str, Any]:
    """A JSON-able record of one batch's tally (checkpoint files)."""

    def counts(table: dict[tuple[str, float], Counts]) -> dict[str, Any]:
        return {f"{name}@{eps!r}": asdict(c) for (name, eps), c in table.items()}

    return {
        "kind": tally.kind.value,
        "n_classes": tally.n_classes,
        "counts": counts(tally.counts),
        "unrounded": None if tally.unrounded is None else counts(tally.unrounded),
        "zero_gradient": tally.zero_gradient,
        "gradient_evaluations": tally.gradient_evaluations,
        "clean": asdict(tally.clean),
        "adversarial": asdict(tally.adversarial),
        "stability": asdict(tally.stability),
        "examples": [e.model_dump() for e in tally.examples],
    }


def tally_from_state(state: dict[str, Any], plan: Plan) -> Tally:
    def counts(table: dict[str, Any]) -> dict[tuple[str, float], Counts]:
        out = {}
        for a in plan.attacks:
            for e in plan.eps:
                fields = dict(table[f"{a.name}@{e!r}"])
                fields["thresholds"] = tuple(fields["thresholds"])
                out[(a.name, e)] = Counts(**fields)
        return out

    return Tally(
        kind=OutputKind(state["kind"]),
        n_classes=int(state["n_classes"]),
        counts=counts(state["counts"]),
        unrounded=None if state["unrounded"] is None else counts(state["unrounded"]),
        zero_gradient=int(state["zero_gradient"]),
        gradient_evaluations=int(state["gradient_evaluations"]),
        clean=Agreement(**state["clean"]),
        adversarial=Agreement(**state["adversarial"]),
        stability=Stability(**state["stability"]),
        examples=[ExampleImage.model_validate(e) for e in state["examples"]],
    )
