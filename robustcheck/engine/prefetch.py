"""Reading the next batch while the current one is attacked (on a GPU: into pinned memory).

A GPU scan spends its time on the device; reading a batch (a memory-mapped file, decoded
images) is host work that would leave the device idle between batches. One background thread
reads one batch ahead, and for CUDA copies it into page-locked memory, from which the copy to the
device runs asynchronously. Batches come out in the same order with the same contents, so the
counts cannot change; an error reading a batch is raised where that batch would have been read.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import torch

from robustcheck.data import Batch


@dataclass(frozen=True)
class Staged:
    batch: Batch
    host: torch.Tensor
    """``batch.x`` as a tensor; page-locked when staged for a GPU."""

    def to(self, device: torch.device) -> torch.Tensor:
        return self.host.to(device, non_blocking=self.host.is_pinned())


def staged(batches: Iterator[Batch], *, pin: bool, ahead: bool) -> Iterator[Staged]:
    """``batches`` as :class:`Staged`, read one ahead in a background thread when ``ahead``."""
    if not ahead:
        yield from (_stage(b, pin) for b in batches)
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="robustcheck-prefetch") as pool:
        pending: Future[Staged | None] = pool.submit(_next, batches, pin)
        while (item := pending.result()) is not None:
            pending = pool.submit(_next, batches, pin)
            yield item


def _next(batches: Iterator[Batch], pin: bool) -> Staged | None:
    batch = next(batches, None)
    return None if batch is None else _stage(batch, pin)


def _stage(batch: Batch, pin: bool) -> Staged:
    host = torch.from_numpy(batch.x)
    return Staged(batch, host.pin_memory() if pin else host)
