"""Running a model whose batch dimension is fixed at export time."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def run_in_fixed_batches(
    fn: Callable[[np.ndarray], np.ndarray], x: np.ndarray, batch: int | None
) -> np.ndarray:
    """Call ``fn`` on chunks of exactly ``batch`` rows (the last one zero-padded), or once."""
    if batch is None or batch == x.shape[0]:
        return fn(x)
    parts = []
    for start in range(0, x.shape[0], batch):
        chunk = x[start : start + batch]
        real = chunk.shape[0]
        if real < batch:
            pad = np.zeros((batch - real, *chunk.shape[1:]), dtype=chunk.dtype)
            chunk = np.concatenate([chunk, pad])
        parts.append(fn(chunk)[:real])
    return np.concatenate(parts)
