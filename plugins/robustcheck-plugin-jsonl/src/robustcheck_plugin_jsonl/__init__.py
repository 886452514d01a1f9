"""Labelled samples from JSON Lines: ``{"x": <nested list>, "y": <int>}`` per line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from robustcheck.data.base import ArraySource, Dataset
from robustcheck.data.options import LoadOptions
from robustcheck.data.registry import LoaderSpec
from robustcheck.errors import DataError
from robustcheck.files import file_sha256

MAX_BYTES = 64 * 1024**2


def load_jsonl(path: Path, options: LoadOptions) -> Dataset:
    if path.stat().st_size > MAX_BYTES:
        raise DataError(f"{path}: larger than {MAX_BYTES} bytes; use .npy for big datasets")
    xs, ys = [], []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                xs.append(np.asarray(record["x"], dtype=np.float32))
                ys.append(int(record["y"]))
            except (ValueError, KeyError, TypeError) as exc:
                raise DataError(
                    f"{path}:{number}: not a {{'x': [...], 'y': int}} record ({exc})"
                ) from None
    if not xs:
        raise DataError(f"{path}: holds no samples")
    if len({x.shape for x in xs}) != 1:
        raise DataError(f"{path}: samples have different shapes")
    x = np.stack(xs)
    if not np.isfinite(x).all():
        raise DataError(f"{path}: has NaN or Inf values")
    return Dataset(
        path=str(path),
        format="jsonl",
        sha256=file_sha256(path),
        source=ArraySource(x),
        y=np.asarray(ys, dtype=np.int64),
        x_key="x",
        y_key="y",
    )


LOADER = LoaderSpec(
    name="jsonl",
    load=load_jsonl,
    suffixes=(".jsonl",),
    description="JSON Lines, one {'x': [...], 'y': int} sample per line (example plugin)",
)
