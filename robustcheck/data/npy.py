"""A NumPy ``.npy`` array of inputs, memory-mapped; labels come from a separate file (or none).

Before mapping, the header is parsed and checked, the file length must match it exactly, and one
streaming pass hashes the file and counts non-finite samples, reusing one small buffer. Batches
are then copied out of the mapping and its pages handed back to the OS, so the resident memory of
a scan stays bounded by the batch, not the file.
"""

from __future__ import annotations

import hashlib
import mmap
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from robustcheck.data import limits
from robustcheck.data._checks import check_finite, check_input_shape, count_nonfinite_samples
from robustcheck.data._npyformat import NpyHeader, read_header
from robustcheck.data.base import ArraySource, Dataset
from robustcheck.data.labels import read_labels_file
from robustcheck.data.options import LoadOptions
from robustcheck.data.registry import loader
from robustcheck.errors import DataError
from robustcheck.files import manifest_sha256, open_regular

_SCAN_BYTES = 4 << 20


@dataclass(frozen=True)
class MappedArraySource(ArraySource):
    """A memory-mapped array whose pages are released after every read."""

    def read(self, indices: np.ndarray) -> np.ndarray:
        out = np.array(super().read(indices), dtype=self.dtype, copy=True)
        _release(self.array)
        return out


def _release(array: np.ndarray) -> None:
    # Pages of a read-only file mapping are clean: dropping them only unmaps them from this
    # process (a later access faults them in again from the page cache).
    mapping = getattr(array, "_mmap", None)
    advice = getattr(mmap, "MADV_DONTNEED", None)
    if isinstance(mapping, mmap.mmap) and advice is not None:
        mapping.madvise(advice)


@loader(
    "npy",
    suffixes=(".npy",),
    options=frozenset({"labels_file", "layout"}),
    description="NumPy array of inputs (memory-mapped); labels from --labels-file",
)
def load_npy(path: Path, options: LoadOptions) -> Dataset:
    where = f"{path}: array"
    with open_regular(path) as (handle, size):
        header = read_header(handle, str(path))
        check_input_shape(where, header.shape, header.dtype.itemsize)
        _check_extent(path, header, size)
        handle.seek(0)
        sha256, bad = _scan(path, handle, header)
    n = header.shape[0]
    check_finite(where, bad, n)
    array = _map(path, header)
    y: np.ndarray | None = None
    if options.labels_file is not None:
        labels = read_labels_file(options.labels_file, n)
        y = labels.y
        sha256 = manifest_sha256([(path.name, sha256), (options.labels_file.name, labels.sha256)])
    return Dataset(
        path=str(path),
        format="npy",
        sha256=sha256,
        source=MappedArraySource(array),
        y=y,
        x_key=path.name,
        y_key=None if options.labels_file is None else str(options.labels_file),
    )


def _check_extent(path: Path, header: NpyHeader, size: int) -> None:
    if header.fortran_order:
        raise DataError(
            f"{path}: the array is stored in Fortran order, which cannot be read a batch at a time",
            hint="save it with numpy.save(path, numpy.ascontiguousarray(x))",
        )
    if header.nbytes > limits.MAX_MMAP_BYTES:
        raise DataError(
            f"{path}: the header declares {header.nbytes} bytes of data; the limit is {limits.MAX_MMAP_BYTES}"
        )
    if size < header.total_bytes:
        raise DataError(
            f"{path}: truncated: the header declares {header.total_bytes} bytes, the file has {size}"
        )
    if size > header.total_bytes:
        raise DataError(
            f"{path}: {size - header.total_bytes} unexpected bytes after the array the header declares"
        )


def _scan(path: Path, handle: BinaryIO, header: NpyHeader) -> tuple[str, int]:
    """sha256 of the whole file and the number of non-finite samples, in one pass."""
    digest = hashlib.sha256(handle.read(header.data_offset))
    n, sample_shape = header.shape[0], header.shape[1:]
    row_bytes = header.nbytes // n
    rows_per_chunk = max(1, _SCAN_BYTES // row_bytes)
    buffer = memoryview(bytearray(rows_per_chunk * row_bytes))
    bad = 0
    for start in range(0, n, rows_per_chunk):
        rows = min(rows_per_chunk, n - start)
        view = buffer[: rows * row_bytes]
        _fill(path, handle, view)
        digest.update(view)
        if header.dtype.kind == "f":
            chunk = np.frombuffer(view, dtype=header.dtype).reshape(rows, *sample_shape)
            bad += count_nonfinite_samples([chunk])
    return digest.hexdigest(), bad


def _fill(path: Path, handle: BinaryIO, view: memoryview) -> None:
    filled = 0
    while filled < len(view):
        got = handle.readinto(view[filled:])  # type: ignore[attr-defined]
        if not got:
            raise DataError(f"{path}: truncated while being read")
        filled += got


def _map(path: Path, header: NpyHeader) -> np.ndarray:
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: cannot memory-map the array ({exc})") from None
    if (
        not isinstance(array, np.memmap)
        or array.shape != header.shape
        or array.dtype != header.dtype
    ):
        raise DataError(f"{path}: the file changed while it was being read")
    return array
