"""Telling a batch too large for memory from a model that asks for more than any batch size frees.

Running out of memory on a batch is the environment's problem (exit 5) only when a smaller batch
would help. A model that asks for an absurd buffer (an ONNX ``ConstantOfShape`` of 2⁵⁰ floats, a
TorchScript forward allocating 64 TiB) fails the same way at every batch size: that is the
model's defect (exit 3). When a batch of several samples runs out of memory, the same call is
tried once on its first sample alone, which settles it: if one sample fits, the batch size is to
blame; if not, no batch size can help, and the size asked for says whether the model or the
machine is at fault (more than this machine's memory for a single sample is the model's).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

import torch

from robustcheck.backends.base import SideInputs, with_side
from robustcheck.boundary import (
    OUT_OF_MEMORY_HINT,
    one_line_reason,
    out_of_memory,
    requested_bytes,
    size_text,
)
from robustcheck.errors import ModelError, RuntimeEnvironmentError

log = logging.getLogger(__name__)

Scores = Callable[..., torch.Tensor]


def scores_or_allocation_error(
    scores: Scores, x: torch.Tensor, side: SideInputs | None, where: str
) -> torch.Tensor:
    """``scores(x[, side])``; running out of memory raises the error its cause deserves."""
    try:
        return with_side(scores, x, side)
    except Exception as exc:
        if not out_of_memory(exc):
            raise
        raise allocation_error(exc, scores, x, side, where) from exc


def allocation_error(
    exc: BaseException,
    scores: Scores,
    x: torch.Tensor,
    side: SideInputs | None,
    where: str,
) -> ModelError | RuntimeEnvironmentError:
    """The error for ``exc``, an out-of-memory failure of ``scores`` on the batch ``x``."""
    reason = one_line_reason(exc)
    rows = int(x.shape[0]) if x.ndim else 1
    if rows > 1:
        try:
            with_side(scores, x[:1], None if side is None else {k: v[:1] for k, v in side.items()})
        except Exception as single:
            if not out_of_memory(single):
                raise
            reason = one_line_reason(single)
        else:
            log.info("one sample fits where %d did not: the batch size is to blame", rows)
            return RuntimeEnvironmentError(
                f"{where}: out of memory on a batch of {rows} ({reason})", hint=OUT_OF_MEMORY_HINT
            )
    requested = requested_bytes(reason)
    memory = device_memory(x.device)
    if requested is not None and memory is not None and requested > memory:
        return ModelError(
            f"{where}: the model asks for {size_text(requested)} in one allocation even for a "
            f"single sample, more than this machine's {size_text(memory)}: no batch size can fix "
            f"that ({reason})"
        )
    return RuntimeEnvironmentError(
        f"{where}: out of memory even for a single sample ({reason})",
        hint="free memory, raise --max-memory or use a machine with more memory",
    )


def device_memory(device: torch.device) -> int | None:
    """Total memory of ``device`` in bytes (the host's physical memory for the CPU)."""
    try:
        if device.type == "cuda":
            return int(torch.cuda.get_device_properties(device).total_memory)
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, RuntimeError, AssertionError):
        return None
