"""Checks every loader applies to inputs and labels, with one wording for all formats."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from robustcheck.data import limits
from robustcheck.errors import DataError

_INPUT_KINDS = {"i": "integer", "u": "unsigned integer", "f": "float"}
_REFUSED_KINDS = {
    "b": "booleans",
    "c": "complex numbers",
    "M": "datetimes",
    "m": "timedeltas",
    "O": "Python objects",
    "S": "byte strings",
    "U": "strings",
    "V": "raw or structured records",
}


def check_number_dtype(where: str, dtype: np.dtype) -> None:
    """Plain integers or floats of at most 8 bytes; everything else is refused by name."""
    if dtype.hasobject:
        raise DataError(f"{where} holds Python objects; only plain numeric arrays are accepted")
    if dtype.fields is not None or dtype.subdtype is not None:
        raise DataError(f"{where} has structured dtype {dtype}; expected a plain numeric array")
    if dtype.kind not in _INPUT_KINDS:
        kind = _REFUSED_KINDS.get(dtype.kind, f"dtype {dtype}")
        raise DataError(f"{where} holds {kind} (dtype {dtype}); expected integers or floats")
    if dtype.itemsize > 8:
        raise DataError(f"{where} has dtype {dtype}; numbers wider than 8 bytes are not supported")


def check_input_shape(where: str, shape: tuple[int, ...], itemsize: int) -> None:
    if len(shape) < 2:
        raise DataError(f"{where} has shape {list(shape)}; expected [N, features...]")
    if any(d < 0 for d in shape):
        raise DataError(f"{where} has a negative dimension in shape {list(shape)}")
    if shape[0] == 0:
        raise DataError(f"{where} holds no samples")
    sample_bytes = itemsize * _product(shape[1:])
    if sample_bytes == 0:
        raise DataError(f"{where} has empty samples (shape {list(shape)})")
    if sample_bytes > limits.MAX_SAMPLE_BYTES:
        raise DataError(
            f"{where} has samples of {sample_bytes} bytes each; the limit is {limits.MAX_SAMPLE_BYTES}"
        )


def array_bytes(shape: tuple[int, ...], itemsize: int) -> int:
    """Exact size in Python integers: a hostile header cannot overflow it."""
    return itemsize * _product(shape)


def count_nonfinite_samples(chunks: Iterable[np.ndarray]) -> int:
    """Samples holding NaN or ±Inf over ``[k, ...]`` chunks; cheap when every value is finite."""
    bad = 0
    for chunk in chunks:
        if chunk.dtype.kind != "f":
            return 0
        finite = np.isfinite(chunk)
        if not finite.all():
            bad += int((~finite.reshape(chunk.shape[0], -1).all(axis=1)).sum())
    return bad


def row_chunks(array: np.ndarray, max_bytes: int = 16 << 20) -> Iterable[np.ndarray]:
    rows = max(1, max_bytes // max(1, array[:1].nbytes))
    for start in range(0, array.shape[0], rows):
        yield array[start : start + rows]


def check_finite(where: str, bad: int, n: int) -> None:
    if bad:
        raise DataError(f"{where} has NaN or Inf values in {bad} of {n} samples")


def check_labels(where: str, y: np.ndarray, n: int) -> np.ndarray:
    """Integer (or integral float) class indices, one per sample, ``0 <= y <= MAX_LABEL``."""
    if y.ndim != 1 or y.shape[0] != n:
        raise DataError(f"{where} have shape {list(y.shape)}; expected [{n}] (one per sample)")
    if y.dtype.kind not in "iuf" or y.dtype.fields is not None:
        raise DataError(f"{where} have dtype {y.dtype}; expected integer class indices")
    if y.dtype.kind == "f" and not (np.isfinite(y).all() and (y == np.round(y)).all()):
        raise DataError(f"{where} have non-integer values; expected integer class indices")
    if y.size and y.min() < 0:
        raise DataError(f"{where} contain negative class indices ({_first(y, y < 0)})")
    if y.size and y.max() > limits.MAX_LABEL:
        raise DataError(f"{where} contain a class index above {limits.MAX_LABEL}")
    return y.astype(np.int64)


def _first(y: np.ndarray, mask: np.ndarray) -> str:
    i = int(np.flatnonzero(mask)[0])
    return f"sample {i} has {y[i]}"


def _product(dims: tuple[int, ...]) -> int:
    out = 1
    for d in dims:
        out *= int(d)
    return out
