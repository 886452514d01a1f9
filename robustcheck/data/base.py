"""The dataset every loader returns: a lazily read sample source, labels, provenance.

Samples are read batch by batch, so memory is bounded by the batch, not the dataset.
"""

from __future__ import annotations

from collections.abc import Container, Iterator
from dataclasses import dataclass, replace
from typing import Protocol

import numpy as np


class SampleSource(Protocol):
    """Random access to the inputs, in raw data units."""

    @property
    def n(self) -> int: ...

    @property
    def sample_shape(self) -> tuple[int, ...]: ...

    @property
    def dtype(self) -> np.dtype: ...

    def read(self, indices: np.ndarray) -> np.ndarray:
        """The samples at ``indices`` (sorted ascending), shape ``[len(indices), *sample_shape]``."""
        ...


@dataclass(frozen=True)
class ArraySource:
    """An in-memory or memory-mapped array; batches come out in native byte order.

    onnxruntime reads a big-endian array's bytes as if they were native and returns garbage, so
    byte order is normalised here, once, for every consumer.
    """

    array: np.ndarray

    @property
    def n(self) -> int:
        return int(self.array.shape[0])

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(self.array.shape[1:])

    @property
    def dtype(self) -> np.dtype:
        return native_dtype(self.array.dtype)

    def read(self, indices: np.ndarray) -> np.ndarray:
        if indices.size and indices[-1] - indices[0] + 1 == indices.size:
            rows = self.array[indices[0] : indices[-1] + 1]
        else:
            rows = self.array[indices]
        return np.asarray(rows, dtype=self.dtype)


def native_dtype(dtype: np.dtype) -> np.dtype:
    """``dtype`` in this machine's byte order."""
    return dtype.newbyteorder("=") if dtype.byteorder not in ("=", "|") else dtype


@dataclass(frozen=True)
class Batch:
    start: int
    """Position of the batch's first sample in scan order."""
    indices: np.ndarray
    """Indices of the samples in the file."""
    x: np.ndarray
    y: np.ndarray | None
    side: dict[str, np.ndarray] | None = None
    """A multi-input model's other inputs for these samples, by input name."""


@dataclass(frozen=True)
class Dataset:
    path: str
    format: str
    sha256: str
    source: SampleSource
    y: np.ndarray | None
    """Integer labels for every sample in the file, or ``None`` when the file has none."""
    x_key: str
    y_key: str | None
    class_names: tuple[str, ...] | None = None
    selection: np.ndarray | None = None
    """Sorted file indices scanned (``--limit``/``--per-class``); ``None`` means all of them."""
    notes: tuple[str, ...] = ()
    """Things the user should know about how the data was read (for the report's warnings)."""
    side: tuple[tuple[str, np.ndarray], ...] = ()
    """A multi-input model's other inputs, ``(input name, one row per sample in the file)``,
    read beside the attacked array and passed to the model unchanged."""

    @property
    def n_samples(self) -> int:
        return self.source.n if self.selection is None else int(self.selection.size)

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return self.source.sample_shape

    def indices(self) -> np.ndarray:
        return np.arange(self.source.n) if self.selection is None else self.selection

    def select(self, selection: np.ndarray) -> Dataset:
        return replace(self, selection=np.sort(selection.astype(np.int64)))

    def batches(self, batch_size: int, only: Container[int] | None = None) -> Iterator[Batch]:
        """Fixed-size batches in file order; the order and size are part of reproducibility.
        ``only``: the batch starts wanted (a shard); the others are not read."""
        n = self.n_samples
        for start in range(0, n, batch_size):
            if only is not None and start not in only:
                continue
            # Without a selection, indices are made per batch: no array as long as the dataset.
            if self.selection is None:
                idx = np.arange(start, min(start + batch_size, n))
            else:
                idx = self.selection[start : start + batch_size]
            y = None if self.y is None else np.asarray(self.y[idx], dtype=np.int64)
            side = {name: np.ascontiguousarray(a[idx]) for name, a in self.side} or None
            yield Batch(start=start, indices=idx, x=self.source.read(idx), y=y, side=side)

    def value_range(self, batch_size: int = 4096) -> tuple[float, float]:
        """Smallest and largest input value, streamed; NaN when any value is NaN."""
        lo, hi = np.inf, -np.inf
        for batch in self.batches(batch_size):
            lo = min(lo, float(np.min(batch.x)))
            hi = max(hi, float(np.max(batch.x)))
        return lo, hi
