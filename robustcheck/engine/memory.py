"""How many input rows one runtime call may take: the memory budget over the model's measured cost.

Gradient-free attacks send a batch's probes to the runtime in a few large calls. What one call
costs is not the input's size but what the model allocates per row: a byte-level model whose
one-hot layer turns each row into ~2 MB reached 19 GB on calls of 4096 rows. So before the scan,
:func:`rows_per_call` runs the model on a few of the data's rows and measures the growth of the
process's peak resident memory (Linux: ``/proc/self/clear_refs`` resets the peak, ``VmHWM`` reads
it), and divides half of the memory left under ``--max-memory`` (default: 80 % of RAM) by that
cost per row. :meth:`robustcheck.attacks.BatchContext.runtime_scores` then calls the runtime on
chunks of at most that many rows.

Measured on the second call (the first one warms the runtime up: thread pools, TorchScript's
profiling run), so one-time costs are not charged per row. onnxruntime's CPU arena keeps what a
call allocated, but a call on more rows than any before it needs a new region of its full size,
so the growth usually measures the call; but an arena that an earlier, larger call grew serves
it unseen. For ONNX models the graph's shapes give a floor the measurement is never taken below
(:mod:`robustcheck.backends.onnx.activations`: the largest tensor that grows with the batch), and
that stands in where the peak cannot be reset (not Linux, or a sandbox that refuses). With
neither, calls take at most :data:`UNMEASURED_ROWS` rows.

Only host memory is measured: on CUDA the rows sit on the device, whose memory the attacks'
probe size (``PROBE_BYTES``) bounds.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from robustcheck.errors import RuntimeEnvironmentError

if TYPE_CHECKING:
    import torch

    from robustcheck.attacks import Attack
    from robustcheck.backends.base import Backend
    from robustcheck.data import Dataset

log = logging.getLogger(__name__)

CALL_SHARE = 0.5
"""The share of the memory left under the budget that one runtime call may use: the rest absorbs
what the measurement misses (arena fragmentation, the attack's own tensors, other batches)."""
UNMEASURED_ROWS = 256
"""Rows per call when the peak cannot be measured: 512 MB at the 2 MB per row of the byte-level
model that motivated the budget."""
MAX_ROWS = 1 << 20
"""No call needs more rows than this to keep a runtime busy."""
_CALIBRATION_ROWS = 8
"""Rows of the measured call (after a warm-up call of fewer rows)."""
FEED_BYTES_PER_ELEMENT = 12
"""Per input element, what a call holds besides the model's own memory: the float64 probes after
the deployed rounding and the float32 copy fed to the runtime."""


def default_max_memory_mb() -> int:
    """80 % of physical memory: leave the CI runner room to report."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return 8192
    return int(total * 0.8 / 2**20)


def resident_bytes() -> int | None:
    """This process's resident memory now (``None`` off Linux)."""
    return _status_bytes("VmRSS")


def peak_growth(call: Callable[[], object]) -> int | None:
    """By how many bytes this process's peak resident memory exceeded its resident memory before
    ``call`` while it ran; ``None`` when the peak cannot be reset here."""
    _trim()
    before = resident_bytes()
    if before is None or not _reset_peak():
        call()
        return None
    # No collection may free memory for the call to reuse unseen. (Not a full collection before:
    # it takes ~0.3 s in a process with a large heap, a test runner's or a notebook's.)
    collecting = gc.isenabled()
    gc.disable()
    try:
        call()
    finally:
        if collecting:
            gc.enable()
    peak = _status_bytes("VmHWM")
    return None if peak is None else max(0, peak - before)


def row_cost(
    call: Callable[[int], object],
    features: int,
    *,
    warm_rows: int = 1,
    feed_bytes: int = FEED_BYTES_PER_ELEMENT,
) -> int | None:
    """Bytes one input row costs a call (``call(k)`` runs the model on k rows), measured as the
    peak memory growth of an 8-row call after a warm-up call, plus ``feed_bytes`` per input
    element; ``None`` when unmeasurable."""
    warm = peak_growth(lambda: call(warm_rows))
    if warm is None:
        return None
    grown = peak_growth(lambda: call(_CALIBRATION_ROWS))
    if grown is None:
        return None
    return -(-grown // _CALIBRATION_ROWS) + feed_bytes * features


@dataclass(frozen=True)
class Held:
    """What the attacks hold beside the runtime's own memory."""

    per_sample: int = 0
    """Bytes per sample of a batch: its float64 copies (clean, best, candidates, one adversarial
    input per ε)."""
    reserve: int = 0
    """Bytes held whatever the batch: one block of probes and its temporaries."""


def rows_per_call(
    call: Callable[[int], object],
    features: int,
    *,
    max_memory_mb: int | None,
    batch_size: int,
    model: Path | str,
    held: Held = Held(),
    floor: int | None = None,
) -> int:
    """The most rows one runtime call may take under the memory budget (``max_memory_mb``, or
    80 % of RAM), from the cost per row :func:`row_cost` measures. Raises (exit 5) when a batch
    — its attack tensors, and one call of all its rows (the clean pass and the scoring) — does
    not fit the memory left, with a hint naming the batch size that fits, if any does.

    ``floor``: bytes per row the model's shapes say a row costs at least (ONNX: its largest
    batch-sized tensor); the measurement is never taken below it, and stands in for a
    measurement that cannot be made."""
    measured = row_cost(call, features)
    if floor is not None:
        floor += FEED_BYTES_PER_ELEMENT * features
    per_row = max(measured or 0, floor or 0) or None
    in_use = resident_bytes()
    if per_row is None or in_use is None:
        log.info("memory per row not measurable here: runtime calls take %d rows", UNMEASURED_ROWS)
        return UNMEASURED_ROWS
    limit_mb = max_memory_mb or default_max_memory_mb()
    avail = limit_mb * 2**20 - in_use - held.reserve
    per_sample = per_row + held.per_sample
    if batch_size * per_sample > avail:
        fits = max(avail, 0) // per_sample
        raise RuntimeEnvironmentError(
            f"one input row of {model} takes about {per_row / 2**20:.1f} MiB inside the runtime: "
            f"a batch of {batch_size} does not fit in the memory left under --max-memory "
            f"{limit_mb} MiB ({in_use / 2**20:.0f} MiB already in use)",
            hint=f"--batch-size {fits} (or less), or raise --max-memory"
            if fits
            else "raise --max-memory (not even one sample fits; neither a smaller --batch-size "
            "nor fewer queries help)",
        )
    rows = max(1, int(CALL_SHARE * (avail - batch_size * held.per_sample) // per_row))
    log.info(
        "%s: %.2f MiB per input row, %.0f MiB left under %d MiB: runtime calls of <= %d rows",
        model, per_row / 2**20, avail / 2**20, limit_mb, rows,
    )  # fmt: skip
    return min(rows, MAX_ROWS)


def _status_bytes(key: str) -> int | None:
    try:
        with Path("/proc/self/status").open() as handle:
            for line in handle:
                if line.startswith(f"{key}:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _reset_peak() -> bool:
    """Reset ``VmHWM`` to the resident memory now (Linux 4.0+)."""
    try:
        with Path("/proc/self/clear_refs").open("w") as handle:
            handle.write("5")
    except OSError:
        return False
    return True


def _trim() -> None:
    """Give freed heap memory back to the system (glibc), so the measured call cannot reuse it
    unseen."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def queries_in_bulk(attacks: Sequence[Attack]) -> bool:
    """Whether an attack sends the runtime more rows than a batch (the gradient-free ones that
    search or estimate; the noise baseline sends a batch)."""
    return any(not a.needs_gradient and a.method != "random" for a in attacks)


def query_rows(
    backend: Backend,
    dataset: Dataset,
    attacks: Sequence[Attack],
    *,
    max_memory_mb: int | None,
    batch_size: int,
    n_eps: int,
) -> int | None:
    """The most rows one runtime call of the scan may take (see :func:`rows_per_call`), measured
    on the data's first rows; ``None`` when no attack queries in bulk, or for text models (their
    rows are token ids, scored through their own path)."""
    if not queries_in_bulk(attacks) or backend.info.embedding is not None:
        return None
    # heavy (torch): the supervising parent imports this module (for the default budget)
    from robustcheck.engine.allocation import scores_or_allocation_error

    x, side = calibration_rows(backend, dataset)

    def call(k: int) -> object:
        rows = {n: v[:k] for n, v in side.items()} or None
        return scores_or_allocation_error(backend.scores, x[:k], rows, str(backend.info.path))

    from robustcheck.attacks.estimated import PROBE_BYTES  # the attacks import torch

    features = int(np.prod(dataset.sample_shape))
    held = Held(per_sample=8 * features * (n_eps + 7), reserve=4 * PROBE_BYTES)
    floor = None
    if backend.info.format == "onnx":
        from robustcheck.backends.onnx.activations import largest_row_bytes  # imports onnx

        floor = largest_row_bytes(backend.info.path)
    return rows_per_call(
        call,
        features,
        max_memory_mb=max_memory_mb,
        batch_size=min(batch_size, dataset.n_samples),
        model=backend.info.path,
        held=held,
        floor=floor,
    )


def calibration_rows(
    backend: Backend, dataset: Dataset
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """The data's first rows (repeated up to 8) on the backend's device, reals, and their side
    inputs."""
    import torch  # heavy: the supervising parent imports this module (for the default budget)

    batch = next(dataset.batches(_CALIBRATION_ROWS, only=(0,)))
    picks = np.arange(_CALIBRATION_ROWS) % len(batch.x)
    x = torch.from_numpy(np.ascontiguousarray(batch.x[picks])).to(backend.device)
    if not x.is_floating_point():
        x = x.to(torch.float32)
    side = {k: torch.from_numpy(v[picks]).to(backend.device) for k, v in (batch.side or {}).items()}
    return x, side
