"""Running a model whose batch dimension is fixed at export time, and exact dtype rounding."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
import torch


def run_in_fixed_batches(
    fn: Callable[..., torch.Tensor],
    x: torch.Tensor,
    batch: int | None,
    side: Mapping[str, torch.Tensor] | None = None,
) -> torch.Tensor:
    """Call ``fn`` on chunks of exactly ``batch`` rows (the last one zero-padded), or once. With
    ``side`` (other model inputs, one row per row of ``x``) ``fn`` gets their matching chunks as
    a second argument."""
    extra = () if side is None else (side,)
    if batch is None or batch == x.shape[0]:
        return fn(x, *extra)
    parts = []
    for start in range(0, x.shape[0], batch):
        real = min(batch, x.shape[0] - start)
        chunk = _padded(x[start : start + batch], batch)
        rows = (
            ()
            if side is None
            else ({k: _padded(v[start : start + batch], batch) for k, v in side.items()},)
        )
        parts.append(fn(chunk, *rows)[:real])
    return torch.cat(parts)


def _padded(chunk: torch.Tensor, batch: int) -> torch.Tensor:
    real = chunk.shape[0]
    if real == batch:
        return chunk
    return torch.cat([chunk, chunk.new_zeros((batch - real, *chunk.shape[1:]))])


def round_to(x: torch.Tensor, dtype: np.dtype) -> torch.Tensor:
    """``x`` rounded to ``dtype`` once, as numpy would (float64 -> float16 directly, never
    through float32), gradient passed straight through."""
    target = _torch_dtype(np.dtype(dtype))
    if x.dtype == target or target != torch.float16 or x.device.type != "cpu":
        return x.to(target)  # torch's own casts round once, except float64 -> float16
    rounded = torch.from_numpy(x.detach().numpy().astype(np.float16))
    return rounded if not x.requires_grad else (x + (rounded.to(x.dtype) - x).detach()).to(target)


def as_numpy(x: torch.Tensor, dtype: np.dtype) -> np.ndarray:
    """A contiguous host array of ``dtype`` (a zero-copy view when ``x`` already is one)."""
    target = np.dtype(dtype)
    host = x.detach()
    if host.device.type != "cpu":
        host = host.to(_torch_dtype(target)).cpu()
    return np.ascontiguousarray(host.numpy(), dtype=target)


def _torch_dtype(dtype: np.dtype) -> torch.dtype:
    return torch.from_numpy(np.zeros(0, dtype=dtype)).dtype
