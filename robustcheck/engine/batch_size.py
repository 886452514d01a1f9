"""``--batch-size auto``: the largest batch the device holds, found once before the scan.

On CUDA the probe runs what a scan batch costs at its peak (a forward and backward pass of the
differentiable path, a deployed forward, and the float64 copies the attacks keep per ε) on the
data's first samples tiled to the candidate size, halving on out-of-memory from a start bounded by
the data size and :data:`AUTO_CAP`. Halving leaves between 1× and 2× headroom, which absorbs what
varies between batches (allocator fragmentation, cuDNN workspaces).

On the CPU host memory is not what limits a scan and larger batches do not run faster, so auto is
the fixed default :data:`~robustcheck.engine.config.DEFAULT_BATCH_SIZE`. Either way the chosen size is
recorded in the report: the noise baseline and random starts are seeded per batch, so a rerun
must use the same size to reproduce those counts exactly.
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from robustcheck.backends.base import Backend
from robustcheck.boundary import out_of_memory
from robustcheck.data import Dataset
from robustcheck.engine.config import DEFAULT_BATCH_SIZE

log = logging.getLogger(__name__)

AUTO_CAP = 4096
"""The largest batch auto tries: beyond it a GPU is saturated on any model worth a GPU."""
_PROBE_SAMPLES = 64
"""Real samples read for the probe (tiled on the device to the candidate size)."""
_TOO_LARGE = ("32bitindexmath", "32-bit index", "cudnn_status_not_supported")
"""Besides running out of memory, how kernels refuse a tensor of more than 2³¹ elements."""


def auto_batch_size(
    backend: Backend, dataset: Dataset, n_eps: int, *, gradient: bool = True
) -> int:
    """The batch size ``--batch-size auto`` stands for on the backend's device; ``gradient``:
    whether the scan takes gradients at all (a query-only scan never runs the gradient path,
    so the probe must not either)."""
    if backend.device.type != "cuda":
        return DEFAULT_BATCH_SIZE
    if not gradient or backend.info.differentiable_path == "none" or backend.info.side_inputs:
        # The probe runs the gradient path on the attacked input alone: a query-only or
        # multi-input model keeps the default (gradient-free probes are chunked anyway).
        return DEFAULT_BATCH_SIZE
    start = max(1, min(AUTO_CAP, dataset.n_samples))
    sample = next(dataset.batches(min(_PROBE_SAMPLES, start), only=(0,))).x
    return largest_batch(backend, sample, start, n_eps)


def largest_batch(backend: Backend, sample: np.ndarray, start: int, n_eps: int) -> int:
    """The largest of ``start``, ``start // 2``, ... down to 1 whose probe fits on the device;
    out of memory at 1 sample is raised (exit 5)."""
    size = start
    while True:
        try:
            _probe(backend, sample, size, n_eps)
            log.info("--batch-size auto: %d fits on %s", size, backend.device)
            return size
        except Exception as exc:
            if size == 1 or not _too_large(exc):
                raise
            log.info("--batch-size auto: %d does not fit on %s", size, backend.device)
            size //= 2
        finally:
            if backend.device.type == "cuda":
                torch.cuda.empty_cache()


def _too_large(exc: BaseException) -> bool:
    text = str(exc).lower().replace(" ", "")
    return out_of_memory(exc) or any(m.replace(" ", "") in text for m in _TOO_LARGE)


def _probe(backend: Backend, sample: np.ndarray, size: int, n_eps: int) -> None:
    """One batch's peak: per-ε float64 copies held while the gradient and the runtime run."""
    host = torch.from_numpy(np.ascontiguousarray(sample)).to(backend.device)
    x = host[torch.arange(size, device=backend.device) % host.shape[0]].to(torch.float32)
    held = [x.to(torch.float64) for _ in range(n_eps + 2)]  # x64, signs, one per ε
    leaf = x.detach().requires_grad_(True)
    scores = backend.forward(leaf)
    if scores.requires_grad:
        torch.autograd.grad(scores.to(torch.float32).sum(), leaf, allow_unused=True)
    backend.scores(held[0])
    if backend.device.type == "cuda":
        torch.cuda.synchronize(backend.device)
