"""NumPy ``.npz`` archives with an input array and an optional label array."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from robustcheck.data.base import ArraySource, Dataset
from robustcheck.errors import DataError


def load_npz(path: Path, sha256: str, *, x_key: str = "x", y_key: str = "y") -> Dataset:
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise DataError(f"{path}: not a readable .npz archive ({exc})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DataError(f"{path}: expected an .npz archive of named arrays, found a single array")
    with archive:
        keys = sorted(archive.files)
        if x_key not in keys:
            raise DataError(
                f"{path}: no array named {x_key!r} (found: {', '.join(keys) or 'none'})",
                hint="name the input array with --x-key",
            )
        x = _read(archive, path, x_key)
        y = _read(archive, path, y_key) if y_key in keys else None
    _check_inputs(path, x_key, x)
    if y is not None:
        y = _check_labels(path, y_key, y, x.shape[0])
    return Dataset(
        path=str(path),
        format="npz",
        sha256=sha256,
        source=ArraySource(x),
        y=y,
        x_key=x_key,
        y_key=y_key if y is not None else None,
    )


def _read(archive: np.lib.npyio.NpzFile, path: Path, key: str) -> np.ndarray:
    try:
        return np.asarray(archive[key])
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise DataError(f"{path}: array {key!r} is unreadable ({exc})") from None


def _check_inputs(path: Path, key: str, x: np.ndarray) -> None:
    if x.ndim < 2:
        raise DataError(
            f"{path}: array {key!r} has shape {list(x.shape)}; expected [N, features...]"
        )
    if x.shape[0] == 0:
        raise DataError(f"{path}: array {key!r} holds no samples")
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise DataError(f"{path}: array {key!r} has dtype {x.dtype}; expected numbers")
    if np.issubdtype(x.dtype, np.floating) and not np.isfinite(x).all():
        bad = int((~np.isfinite(x)).reshape(x.shape[0], -1).any(axis=1).sum())
        raise DataError(f"{path}: array {key!r} has NaN or Inf values in {bad} samples")


def _check_labels(path: Path, key: str, y: np.ndarray, n: int) -> np.ndarray:
    if y.ndim != 1 or y.shape[0] != n:
        raise DataError(f"{path}: labels {key!r} have shape {list(y.shape)}; expected [{n}]")
    if not np.issubdtype(y.dtype, np.integer):
        if (
            np.issubdtype(y.dtype, np.floating)
            and np.isfinite(y).all()
            and (y == np.round(y)).all()
        ):
            y = y.astype(np.int64)
        else:
            raise DataError(
                f"{path}: labels {key!r} have dtype {y.dtype}; expected integer class indices"
            )
    if (y < 0).any():
        raise DataError(f"{path}: labels {key!r} contain negative class indices")
    return y.astype(np.int64, copy=False)
