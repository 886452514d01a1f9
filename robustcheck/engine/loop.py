"""The scan loop: stream batches, run every attack on each, score every ε on the deployed path.

Each batch becomes one :class:`~robustcheck.attacks.BatchContext` on the backend's device; attacks
share its clean scores and its clean-input gradient (one forward+backward per batch serves an
FGSM sweep). Only per-batch counts leave the device.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from robustcheck.attacks import Attack, BatchContext, correct, project
from robustcheck.backends.base import Backend, with_side
from robustcheck.backends.output import OutputKind, detect_output_kind, to_probabilities
from robustcheck.data import Batch, Dataset
from robustcheck.engine.allocation import scores_or_allocation_error
from robustcheck.engine.certification import certify_batch
from robustcheck.engine.contract import check_eps_zero
from robustcheck.engine.examples import MAX_EXAMPLES, collect_examples
from robustcheck.engine.min_eps import find_min_eps
from robustcheck.engine.prefetch import Staged, staged
from robustcheck.engine.probe import ProbePlan, probe_key
from robustcheck.engine.sanity import (
    check_finite,
    check_input_dependence,
    check_repeatable,
    check_rows,
)
from robustcheck.engine.state import BatchRecords, tally_from_state, tally_state
from robustcheck.engine.tally import Plan, Queries, Tally, merge
from robustcheck.engine.text_examples import (
    collect_text_examples,
)
from robustcheck.errors import DataError, ModelRejectedBatch
from robustcheck.metrics import Counts, correct_mask
from robustcheck.text.layout import budget_mask

Progress = Callable[[int, int], None]
"""Called with (samples done, samples to do) after each batch (of a shard: its own samples)."""


def scan(
    plan: Plan,
    dataset: Dataset,
    backend: Backend,
    progress: Progress | None,
    records: BatchRecords | None = None,
    only: frozenset[int] | None = None,
) -> Tally | None:
    """Scan every batch (or the batch starts in ``only``: a shard), merging per-batch tallies;
    batches in ``records`` (a checkpoint) are not redone. ``None`` when ``only`` holds no batch.

    Whatever is decided once per scan (the output kind, the sanity checks, the adversarial
    fidelity comparison) is decided on the scan's first batch (start 0), whichever shard holds it,
    so that shards merge to exactly the unsharded tally.
    """
    total: Tally | None = None
    kind = plan.output_kind
    if kind is None and only is not None and 0 not in only and only:
        kind = _first_batch_kind(plan, dataset, backend)
    starts = []
    n = dataset.n_samples
    todo = n if only is None else sum(min(plan.batch_size, n - s) for s in only if s < n)
    done = 0
    gpu = backend.device.type == "cuda"
    for item in staged(dataset.batches(plan.batch_size, only), pin=gpu, ahead=gpu):
        batch = item.batch
        starts.append(batch.start)
        if records is not None and batch.start in records.done:
            part = tally_from_state(records.done[batch.start], plan)
        else:
            try:
                part = _scan_batch(plan, dataset, backend, item, kind, total)
            except ModelRejectedBatch as exc:
                if total is not None:
                    raise
                # The model ran on none of the data: its shape or layout is the likely cause.
                raise DataError(
                    f"{dataset.path}: samples have shape {list(dataset.sample_shape)}, on which "
                    f"{backend.info.path} fails ({exc.reason})",
                    hint="check the layout (NCHW vs NHWC) and image size",
                ) from None
            if records is not None:
                records.record(batch.start, tally_state(part))
                records.done[batch.start] = {}
        kind = part.kind
        total = part if total is None else merge(total, part)
        done += len(batch.indices)
        if progress is not None:
            progress(done, todo)
    if records is not None:
        records.verify_complete(starts)
    return total


def _first_batch_kind(plan: Plan, dataset: Dataset, backend: Backend) -> OutputKind:
    """The output kind detected on the scan's first batch, for a shard that does not hold it."""
    staged_batch = next(staged(dataset.batches(plan.batch_size, only=(0,)), pin=False, ahead=False))
    side = _side(backend, staged_batch.batch)
    x = _inputs(plan, backend, staged_batch)
    scores = scores_or_allocation_error(backend.scores, x, side, backend.info.path)
    return detect_output_kind(_host(scores))


def _inputs(plan: Plan, backend: Backend, batch: Staged) -> torch.Tensor:
    """The batch as the deployed model sees it, on the backend's device."""
    x = batch.to(backend.device)
    if not x.is_floating_point():  # integer data (uint8 pixels in an .npz): attacks need reals
        x = x.to(torch.float32)
    if plan.quantiser is not None and plan.quantiser.dtype == "float16":
        x = plan.quantiser(x)  # the deployed model only ever sees float16 values
    return x


def _side(backend: Backend, batch: Batch) -> dict[str, torch.Tensor] | None:
    """A multi-input model's other inputs for the batch, as they are (integer ones too)."""
    if not batch.side:
        return None
    return {k: torch.from_numpy(v).to(backend.device) for k, v in batch.side.items()}


def leaf_budget(backend: Backend, x: torch.Tensor) -> torch.Tensor | None:
    """A text model's per-element budget mask (tokens, padding and specials fixed), else None."""
    leaf = backend.info.embedding
    return None if leaf is None else budget_mask(x, leaf.hidden)


def _host(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy()


@dataclass
class _Batch:
    """One batch in flight: the plan, its tally, the attacks' context and the clean results."""

    plan: Plan
    tally: Tally
    ctx: BatchContext
    y: np.ndarray
    clean_probs: np.ndarray
    first: bool

    def score(
        self, attack: Attack, eps: float, x_adv: torch.Tensor, targets: np.ndarray | None
    ) -> np.ndarray:
        """Count one attack at one ε on the deployed runtime; return the adversarial probabilities."""
        model, kind = self.ctx.model, self.tally.kind
        deployed = _deployed(self.plan, x_adv)
        side = self.ctx.side
        adv_probs = to_probabilities(_host(with_side(model.scores, deployed, side)), kind)
        key = (attack.label, eps)
        self.tally.counts[key].add_batch(self.y, self.clean_probs, adv_probs, targets)
        if self.tally.unrounded is not None:
            raw = to_probabilities(_host(with_side(model.scores, x_adv, side)), kind)
            self.tally.unrounded[key].add_batch(self.y, self.clean_probs, raw, targets)
        if (
            self.first
            and attack.needs_gradient
            and model.info.differentiable_path == "onnx-twin-vs-onnxruntime"
        ):
            # A twin is compared with its runtime; a PyTorch module would be compared with itself.
            twin = to_probabilities(
                _host(with_side(model.differentiable_scores, deployed, side)), kind
            )
            self.tally.adversarial.add(twin, adv_probs)
        return adv_probs

    def text_examples(
        self,
        attack: Attack,
        k: float,
        indices: np.ndarray,
        x: np.ndarray,
        x_adv: torch.Tensor,
        adv_probs: np.ndarray,
    ) -> None:
        """Keep this batch's flipped texts at token budget ``k`` where they improve the table."""
        leaf = self.ctx.model.info.embedding
        assert leaf is not None, "token budgets need a text model"
        clean, adversarial = (
            np.rint(t[..., leaf.hidden :]).astype(np.int64) for t in (x, _host(x_adv))
        )
        collect_text_examples(
            self.tally.text_examples, attack.label, k, indices, clean, adversarial,
            self.y, self.clean_probs, adv_probs, self.plan.vocabulary,
        )  # fmt: skip


def _scan_batch(
    plan: Plan,
    dataset: Dataset,
    backend: Backend,
    staged_batch: Staged,
    kind: OutputKind | None,
    before: Tally | None,
) -> Tally:
    batch = staged_batch.batch
    first = batch.start == 0
    x = _inputs(plan, backend, staged_batch)
    tally, ctx, y, clean_probs = _clean_pass(plan, dataset, backend, batch, x, kind)
    gradient = None
    if plan.needs_gradient:  # a query-only scan computes no gradient and claims no fidelity
        gradient = ctx.clean_gradient()
        _record_gradient(tally, gradient.gradient, _host(gradient.scores), clean_probs)
    if first:
        replay = ctx.runtime_scores(project(x, x, 0.0, plan.domain))
        check_eps_zero(_host(ctx.clean_scores), _host(replay), str(dataset.path))
    job = _Batch(plan, tally, ctx, y, clean_probs, first)
    unmeasured = _attack(plan, backend, job, batch, x, before)
    if gradient is None and unmeasured is not None:
        tally.zero_gradient = int(unmeasured.sum())
    if ctx.fallback_samples is not None:
        tally.margin_fallback = int(ctx.fallback_samples.sum())
    if plan.min_eps is not None:
        assert gradient is not None
        tally.min_eps = find_min_eps(plan.min_eps, ctx, gradient.gradient)
    tally.gradient_evaluations = ctx.gradient_evaluations
    return tally


def _clean_pass(
    plan: Plan,
    dataset: Dataset,
    backend: Backend,
    batch: Batch,
    x: torch.Tensor,
    kind: OutputKind | None,
) -> tuple[Tally, BatchContext, np.ndarray, np.ndarray]:
    """The deployed model's clean scores of the batch, checked (fail closed), and the batch's
    new tally, attack context, labels and clean probabilities."""
    where = backend.info.path
    first = batch.start == 0
    side = _side(backend, batch)
    ctx = None
    reuse = plan.reuse_clean_forward and plan.needs_gradient and not first
    if reuse and kind is not None and batch.y is not None:
        ctx = _context(plan, backend, batch, x, batch.y, kind, x.new_empty(0), side)
        ctx.clean_scores = clean = ctx.clean_gradient().scores
    else:
        # The first call on each batch: a model asking for memory no batch size frees is told
        # from a batch too large for this machine here (see robustcheck.engine.allocation).
        clean = scores_or_allocation_error(backend.scores, x, side, where)
    clean_np = _host(clean)
    check_rows(clean_np, x.shape[0], where)
    check_finite(clean_np, where, batch.start)
    if first:
        check_repeatable(clean_np, _host(with_side(backend.scores, x, side)), where)
        check_input_dependence(_host(x), clean_np, where)
    tally = _start(plan, clean_np, kind)
    clean_probs = to_probabilities(clean_np, tally.kind)
    tally.stability.add(clean_probs)
    y = batch.y if batch.y is not None else np.argmax(clean_probs, axis=1)
    _check_labels(dataset, y, tally.n_classes)
    if ctx is None:
        ctx = _context(plan, backend, batch, x, y, tally.kind, clean, side)
    return tally, ctx, y, clean_probs


def _attack(
    plan: Plan, backend: Backend, job: _Batch, batch: Batch, x: torch.Tensor, before: Tally | None
) -> torch.Tensor | None:
    """Run every attack at its budgets and count; returns where no gradient-free attack measured
    anything (their estimated directions were all zero), if one ran."""
    tally, y, clean_probs = job.tally, job.y, job.clean_probs
    fooled: dict[tuple[str, float], np.ndarray] = {}
    wanted = _examples_wanted(plan, before, batch, tally.n_classes)
    x_host = _host(x) if wanted else None  # a whole batch back from the device: only if needed
    show = x_host is not None and backend.info.embedding is None
    unmeasured: torch.Tensor | None = None
    for attack in plan.attacks:
        eps_for = plan.eps_for(attack)
        output = attack(job.ctx, eps_for)
        _record_queries(tally, attack, output.queries)
        for e, members in (output.broken_by or {}).items():
            for member, broke in members.items():
                key = f"{attack.label}@{e!r}>{member}"
                tally.broken_by[key] = tally.broken_by.get(key, 0) + broke
        if output.unmeasured is not None:
            unmeasured = output.unmeasured if unmeasured is None else unmeasured & output.unmeasured
        for eps in eps_for:
            x_adv = output.adversarial[eps]
            targets = None if output.targets is None else _host(output.targets[eps])
            adv_probs = job.score(attack, eps, x_adv, targets)
            fooled[(attack.label, eps)] = ~correct_mask(adv_probs, y)
            if attack.budget_unit == "tokens":
                job.text_examples(attack, eps, batch.indices, _host(x), x_adv, adv_probs)
            if show and attack.label == plan.example_attack:
                assert x_host is not None
                adv_host = _host(_deployed(plan, x_adv))
                collect_examples(
                    tally.examples, batch.indices, x_host, y, clean_probs, adv_host, adv_probs,
                    eps, plan.channel_order, None if before is None else before.examples,
                )  # fmt: skip
    _cross_attack(plan, tally, fooled)
    if plan.certify is not None:
        tally.certified, tally.certify_seconds = certify_batch(
            plan.certify, x, y, plan.eps, domain=plan.domain, eps_scale=plan.eps_scale,
            fooled=fooled, first_index=batch.start,
        )  # fmt: skip
    if plan.probe is not None:
        _probe(plan.probe, plan.eps, job, batch, fooled)
    return unmeasured


def _probe(
    probe: ProbePlan,
    eps: list[float],
    job: _Batch,
    batch: Batch,
    fooled: dict[tuple[str, float], np.ndarray],
) -> None:
    """The FGSM-gap probe on this batch's probed samples: its errors and the one-step attack's,
    on the same samples, at every ε."""
    rows = [i for i in range(len(batch.indices)) if batch.start + i in probe.indices]
    if not rows:
        return
    # A lone probed sample goes with a neighbour (its result unused): some models fail on a
    # batch of one (a squeeze of the batch axis) although they run every batch the scan makes.
    pad = [i for i in range(len(batch.indices)) if i not in rows][: 2 - len(rows)]
    picked = torch.tensor(rows + pad if len(rows) == 1 else rows, device=job.ctx.x.device)
    sub = job.ctx.subset(picked)
    output = probe.attack(sub, eps)
    job.tally.probe_evaluations += sub.gradient_evaluations
    for e in eps:
        scores = sub.runtime_scores(output.adversarial[e])[: len(rows)]
        by_probe = (~correct(scores, sub.y[: len(rows)])).cpu().numpy()
        by_one_step = fooled[(probe.against, e)][rows]
        counts = job.tally.probe.setdefault(probe_key(e), [0, 0, 0, 0, 0])
        counts[0] += len(rows)
        counts[1] += int(by_probe.sum())
        counts[2] += int(by_one_step.sum())
        counts[3] += int((by_probe & ~by_one_step).sum())
        counts[4] += int((by_one_step & ~by_probe).sum())


def _context(
    plan: Plan,
    backend: Backend,
    batch: Batch,
    x: torch.Tensor,
    y: np.ndarray,
    kind: OutputKind,
    clean: torch.Tensor,
    side: dict[str, torch.Tensor] | None = None,
) -> BatchContext:
    return BatchContext(
        model=backend,
        x=x,
        y=torch.from_numpy(np.ascontiguousarray(y, dtype=np.int64)).to(backend.device),
        kind=kind,
        domain=plan.domain,
        clean_scores=clean,
        seed=plan.seed,
        batch_start=batch.start,
        deployed=plan.quantiser,
        eps_scale=_eps_scale(plan, backend),
        side=side,
        free=leaf_budget(backend, x),
        substitutions=plan.substitutions,
        max_rows=plan.query_rows,
        gradient_rows=plan.gradient_rows,
    )


def _eps_scale(plan: Plan, backend: Backend) -> torch.Tensor | None:
    if plan.eps_scale is None:
        return None
    return torch.from_numpy(plan.eps_scale[None]).to(backend.device, torch.float64)


def _examples_wanted(plan: Plan, before: Tally | None, batch: Batch, n_classes: int) -> bool:
    """False only when no sample of this batch can change the table, whatever the batch order:
    every ε already holds the smallest labels, each by a sample earlier than this batch's."""
    if before is None:
        return True
    full = list(range(min(MAX_EXAMPLES, n_classes)))
    first = int(np.min(batch.indices)) if len(batch.indices) else 0
    for eps in plan.eps:
        slots = before.examples.get(eps, {})
        if sorted(slots) != full or any(e.index > first for e in slots.values()):
            return True
    return False


def _deployed(plan: Plan, x_adv: torch.Tensor) -> torch.Tensor:
    return x_adv if plan.quantiser is None else plan.quantiser(x_adv)


def _cross_attack(plan: Plan, tally: Tally, fooled: dict[tuple[str, float], np.ndarray]) -> None:
    """For each pair of white-box attacks: samples the first fooled and the second did not."""
    labels = [a.label for a in plan.attacks if a.needs_gradient and a.budget_unit == "eps"]
    for a in labels:
        for b in labels:
            if a == b:
                continue
            for eps in plan.eps:
                only = int((fooled[(a, eps)] & ~fooled[(b, eps)]).sum())
                tally.only_fooled_by[f"{a}>{b}@{eps!r}"] = only


def _start(plan: Plan, clean: np.ndarray, kind: OutputKind | None) -> Tally:
    kind = kind or plan.output_kind or detect_output_kind(clean)
    n_classes = int(clean.shape[1])
    keys = [(a.label, e) for a in plan.attacks for e in plan.eps_for(a)]
    counts = {k: Counts(n_classes, plan.thresholds) for k in keys}
    unrounded = None
    if plan.quantiser is not None and plan.quantiser.dtype == "uint8":
        unrounded = {k: Counts(n_classes, plan.thresholds) for k in keys}
    return Tally(kind=kind, n_classes=n_classes, counts=counts, unrounded=unrounded)


def _record_queries(tally: Tally, attack: Attack, queries: torch.Tensor | None) -> None:
    if queries is None:
        return
    spent = Queries(
        int(queries.sum()), int(queries.max()) if queries.numel() else 0, queries.numel()
    )
    before = tally.queries.get(attack.label)
    tally.queries[attack.label] = spent if before is None else before.merge(spent)


def _record_gradient(
    tally: Tally, gradient: torch.Tensor, twin_scores: np.ndarray, clean_probs: np.ndarray
) -> None:
    rows = gradient.reshape(gradient.shape[0], -1)
    tally.zero_gradient += int((rows == 0).all(dim=1).sum())
    tally.clean.add(to_probabilities(twin_scores, tally.kind), clean_probs)


def _check_labels(dataset: Dataset, y: np.ndarray, n_classes: int) -> None:
    if y.size and int(y.max()) >= n_classes:
        raise DataError(
            f"{dataset.path}: label {int(y.max())} is outside the model's {n_classes} classes "
            f"(0..{n_classes - 1})"
        )
