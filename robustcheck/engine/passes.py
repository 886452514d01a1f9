"""Every call of the model sized to a memory cap: runtime calls and forward+backward passes.

What a call of the model costs grows with its rows, and for image models far beyond the input: a
MobileNet-sized model at 3×224×224 holds ~12 MB a row for a forward and ~100 MB a row for a
forward+backward pass, which keeps every activation for the backward pass. One pass over a batch
of 200 peaked at 16 GB, one forward at 4 GB. So before the scan the cost of each kind of call is
measured once per row (:func:`robustcheck.engine.memory.row_cost`: the growth of the process's
peak resident memory over a call of 8 rows), and the scan calls the model on at most as many rows
as fit in :data:`CALL_BYTES` (less if ``--max-memory`` leaves less): the runtime through
:class:`ChunkedBackend`, the gradient through
:attr:`robustcheck.attacks.BatchContext.gradient_rows`.

Larger calls buy no speed on a CPU: on that model a forward+backward pass took 120-140 ms a row
in passes of 4-16 rows and 170 ms in passes of 32 (one thread), and a forward of all 200 rows
took 150 ms a row against 35-45 ms in calls of 4-32 (each activation a fresh block of pages to
map and fault in). The rows are a power of two below the cap, so that a measurement a little off
rarely changes them. Chunking changes no arithmetic of robustcheck's; a model's own kernels may
round a row differently at another batch size (the backward of a matrix product did, by ~1e-9),
as they already do at the sizes early stop makes.

Host memory only: on CUDA the activations sit on the device, whose memory ``--batch-size auto``
sizes, and nothing is chunked here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import torch

from robustcheck.backends.base import Backend, ModelInfo, SideInputs, with_side
from robustcheck.data import Dataset
from robustcheck.engine.allocation import scores_or_allocation_error
from robustcheck.engine.memory import (
    CALL_SHARE,
    FEED_BYTES_PER_ELEMENT,
    calibration_rows,
    default_max_memory_mb,
    resident_bytes,
    row_cost,
)

log = logging.getLogger(__name__)

CALL_BYTES = 512 * 2**20
"""The most memory one call of the model may take, whatever ``--max-memory`` leaves."""
_GRADIENT_FEED_BYTES_PER_ELEMENT = 28
"""Per input element, what a forward+backward pass holds besides the model's own memory: the
float64 rows and their float64 gradient, and the float32 input fed to the model and its
gradient."""
_WARM_ROWS = 2
"""Rows of the warm-up call before the measured one: some models fail on a batch of one."""


class Sizing(NamedTuple):
    """How many rows each kind of call of the scan takes (``None``: the whole batch)."""

    calls: int | None
    """Runtime calls (and forwards of the differentiable path without autograd)."""
    passes: int | None
    """Forward+backward passes."""


def call_sizes(
    backend: Backend,
    dataset: Dataset,
    *,
    max_memory_mb: int | None,
    batch_size: int,
    n_eps: int,
    gradients: bool,
) -> Sizing:
    """Runtime calls sized by :func:`runtime_rows`, then, when the scan takes ``gradients`` and
    the runtime ran the calibration rows, forward+backward passes by :func:`gradient_rows`. A
    model the runtime fails on (a shape it refuses, an allocation that fails) is left unsized: the
    scan's first batch meets the failure on the path that reports it, with its hint, and the
    differentiable path is never run on more rows than the runtime accepted (a graph may grow with
    its rows without bound: a broadcast summed row by row allocates nothing and never ends)."""
    if not _measurable(backend):
        return Sizing(None, None)
    batch = min(batch_size, dataset.n_samples)
    try:
        calls = _rows(_runtime_cost(backend, dataset), batch, max_memory_mb, 0)
    except _Unmeasured:
        return Sizing(None, None)
    if calls is not None:
        log.info("%s: runtime calls of <= %d rows", backend.info.path, calls)
    passes = None
    if gradients:
        passes = gradient_rows(
            backend, dataset, max_memory_mb=max_memory_mb, batch_size=batch_size, n_eps=n_eps
        )
    return Sizing(calls, passes)


def gradient_rows(
    backend: Backend,
    dataset: Dataset,
    *,
    max_memory_mb: int | None,
    batch_size: int,
    n_eps: int,
) -> int | None:
    """The most rows one forward+backward pass of the scan may take: :data:`CALL_BYTES`, or half
    the memory left under the budget (``max_memory_mb``, or 80 % of RAM) after the batch's
    float64 tensors if that is less, over the pass's measured cost per row. ``None`` (one pass
    over the batch) when the batch fits, or nothing is measured (see :func:`_measurable`)."""
    if not _measurable(backend):
        return None
    x, side = calibration_rows(backend, dataset)

    def call(k: int) -> object:
        leaf = x[:k].to(torch.float64).requires_grad_(True)
        scores = with_side(backend.forward, leaf, {n: v[:k] for n, v in side.items()} or None)
        if scores.requires_grad:
            torch.autograd.grad(scores.sum(), leaf, allow_unused=True)
        return scores

    features = int(np.prod(dataset.sample_shape))
    batch = min(batch_size, dataset.n_samples)
    held = batch * 8 * features * (n_eps + 5)  # float64: x, iterates, gradient, candidates
    try:
        per_row = _cost(call, features, _GRADIENT_FEED_BYTES_PER_ELEMENT)
    except _Unmeasured:
        return None
    rows = _rows(per_row, batch, max_memory_mb, held)
    if rows is not None:
        log.info(
            "%s: %.1f MiB a row in a forward+backward pass: passes of <= %d rows",
            backend.info.path, (per_row or 0) / 2**20, rows,
        )  # fmt: skip
    return rows


def runtime_rows(
    backend: Backend, dataset: Dataset, *, max_memory_mb: int | None, batch_size: int
) -> int | None:
    """The most rows one call of the deployed runtime (or a forward of the differentiable path
    without autograd) may take, as :func:`gradient_rows` sizes passes; ``None`` when the batch
    fits, or nothing is measured."""
    if not _measurable(backend):
        return None
    try:
        per_row = _runtime_cost(backend, dataset)
    except _Unmeasured:
        return None
    return _rows(per_row, min(batch_size, dataset.n_samples), max_memory_mb, 0)


def _runtime_cost(backend: Backend, dataset: Dataset) -> int | None:
    """The measured cost a row of a runtime call (ONNX: never below the graph's largest
    batch-sized tensor); raises :class:`_Unmeasured` when the runtime fails on the rows."""
    x, side = calibration_rows(backend, dataset)

    def call(k: int) -> object:
        rows = {n: v[:k] for n, v in side.items()} or None
        return scores_or_allocation_error(backend.scores, x[:k], rows, str(backend.info.path))

    features = int(np.prod(dataset.sample_shape))
    per_row = _cost(call, features, None)
    if backend.info.format == "onnx":
        # an arena an earlier call grew serves a call unseen: the graph's shapes give a floor
        from robustcheck.backends.onnx.activations import largest_row_bytes  # heavy: onnx

        floor = largest_row_bytes(backend.info.path)
        if floor is not None and per_row is not None:
            per_row = max(per_row, floor + FEED_BYTES_PER_ELEMENT * features)
    if per_row is not None:
        log.info("%s: %.1f MiB a row in a runtime call", backend.info.path, per_row / 2**20)
    return per_row


class _Unmeasured(Exception):
    """The model failed on the calibration rows."""


def _measurable(backend: Backend) -> bool:
    """Host memory of an image, audio or tabular model: not on CUDA (see the module), not for
    text models (their leaf is the embeddings, scored through their own path)."""
    return backend.device.type == "cpu" and backend.info.embedding is None


def _cost(call: Callable[[int], object], features: int, feed_bytes: int | None) -> int | None:
    """The measured cost a row of ``call`` (``None``: no memory figures on this system); raises
    :class:`_Unmeasured` when the model fails on the calibration rows, whatever the failure (a
    shape it refuses, an allocation that fails): the scan's first batch then meets it on the path
    that reports it, with its hint."""
    try:
        if feed_bytes is None:
            return row_cost(call, features, warm_rows=_WARM_ROWS)
        return row_cost(call, features, warm_rows=_WARM_ROWS, feed_bytes=feed_bytes)
    except Exception as failure:  # a measurement only: the scan meets and reports the failure
        raise _Unmeasured from failure


def _rows(per_row: int | None, batch: int, max_memory_mb: int | None, held: int) -> int | None:
    """The power of two of rows whose cost fits the cap and the budget; ``None`` when the whole
    batch fits (or nothing was measured)."""
    in_use = resident_bytes()
    if per_row is None or in_use is None:
        return None
    limit = (max_memory_mb or default_max_memory_mb()) * 2**20
    room = min(CALL_BYTES, int(CALL_SHARE * (limit - in_use - held)))
    rows = max(1, room // max(1, per_row))
    rows = 1 << (rows.bit_length() - 1)
    return None if rows >= batch else rows


class ChunkedBackend:
    """A backend whose scores (deployed and differentiable) come from calls of at most ``rows``
    rows; its differentiable path with autograd is the inner one's (the scan chunks gradients
    itself: :attr:`robustcheck.attacks.BatchContext.gradient_rows`)."""

    def __init__(self, inner: Backend, rows: int) -> None:
        self._inner, self._rows = inner, rows
        self.info: ModelInfo = inner.info
        self.device = inner.device

    def scores(self, x: torch.Tensor, side: SideInputs | None = None) -> torch.Tensor:
        return self._chunked(self._inner.scores, x, side)

    def differentiable_scores(
        self, x: torch.Tensor, side: SideInputs | None = None
    ) -> torch.Tensor:
        return self._chunked(self._inner.differentiable_scores, x, side)

    def forward(self, x: torch.Tensor, side: SideInputs | None = None) -> torch.Tensor:
        return with_side(self._inner.forward, x, side)

    def _chunked(
        self, method: Callable[..., torch.Tensor], x: torch.Tensor, side: SideInputs | None
    ) -> torch.Tensor:
        n, step = x.shape[0], self._rows
        if n <= step:
            return with_side(method, x, side)
        out: torch.Tensor | None = None
        for start in range(0, n, step):
            real = min(step, n - start)
            # The last call repeats its last row: every call has the same shape (TorchScript
            # specialises on it; some models fail on a batch of one).
            pick = torch.arange(start, start + step, device=x.device).clamp_(max=n - 1)
            chunk_side = None if side is None else {k: v[pick] for k, v in side.items()}
            part = with_side(method, x[pick], chunk_side)
            if out is None:
                out = part.new_empty((n, *part.shape[1:]))
            out[start : start + real] = part[:real]
        assert out is not None
        return out


def with_call_rows(backend: Backend, rows: int | None) -> Backend:
    """``backend`` with its scores computed in calls of at most ``rows`` rows (as it is: None)."""
    return backend if rows is None else ChunkedBackend(backend, rows)
