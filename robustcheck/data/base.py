"""The dataset every loader returns: inputs, optional labels, provenance."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Batch:
    start: int
    x: np.ndarray
    y: np.ndarray | None


@dataclass(frozen=True)
class Dataset:
    path: str
    format: str
    sha256: str
    x: np.ndarray
    """Inputs ``[N, ...]`` in raw data units (may be memory-mapped)."""
    y: np.ndarray | None
    """Integer labels ``[N]``, or ``None`` when the file has none."""
    x_key: str
    y_key: str | None
    class_names: tuple[str, ...] | None = None

    @property
    def n_samples(self) -> int:
        return int(self.x.shape[0])

    def batches(self, batch_size: int) -> Iterator[Batch]:
        """Fixed-size batches in file order; the order and size are part of reproducibility."""
        for start in range(0, self.n_samples, batch_size):
            stop = start + batch_size
            y = None if self.y is None else np.asarray(self.y[start:stop], dtype=np.int64)
            yield Batch(start=start, x=np.asarray(self.x[start:stop]), y=y)
