"""Per-feature ε: what one number of the sweep means for each feature.

``--eps`` is in raw data units. On tabular data whose features range from 0.1 to 1,700 one raw
number is almost meaningless (it is nothing to one feature and everything to another), so ε can be
scaled per feature: ``--eps-units std`` multiplies it by each feature's standard deviation on the
scanned data, ``--eps-scale FILE`` by the multipliers in a ``.npy`` file (save the per-feature ε
vector itself there and pass ``--eps 1`` to use it as is). The sweep, the policy's budgets and the
results stay keyed by the scalar ε; the report records the scales' summary.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from robustcheck.data import Dataset
from robustcheck.errors import DataError, UsageError
from robustcheck.files import regular_file_stat
from robustcheck.reports.model import EpsScaleSection

SCALE_SPREAD_WARNING = 100.0
"""Raw ε on features whose spreads differ by more than this factor earns a warning."""
MAX_SCALE_BYTES = 64 * 1024 * 1024
MAX_LISTED = 256
"""Scales of at most this many features are listed in full in the report."""


@dataclass(frozen=True)
class EpsScale:
    """Per-feature multipliers of ε, float64, shaped like one sample."""

    values: np.ndarray
    units: str
    """``std`` or ``file``."""
    source: str
    """What the values are: ``standard deviation of ...`` or the file's path."""

    def section(self) -> EpsScaleSection:
        flat = self.values.reshape(-1)
        return EpsScaleSection(
            units=self.units,  # type: ignore[arg-type]
            source=self.source,
            n_features=int(flat.size),
            min=float(flat.min()),
            median=float(np.median(flat)),
            max=float(flat.max()),
            zero_features=int((flat == 0).sum()),
            sha256=hashlib.sha256(np.ascontiguousarray(flat).tobytes()).hexdigest(),
            values=[float(v) for v in flat] if flat.size <= MAX_LISTED else None,
        )

    @property
    def largest(self) -> float:
        return float(self.values.max())


def feature_std(dataset: Dataset, batch_size: int = 4096) -> np.ndarray:
    """Each feature's population standard deviation over the scanned samples (two streamed
    passes in float64: the mean, then the squared deviations)."""
    n = dataset.n_samples
    total = np.zeros(dataset.sample_shape, dtype=np.float64)
    for batch in dataset.batches(batch_size):
        total += batch.x.astype(np.float64).sum(axis=0)
    mean = total / n
    squares = np.zeros_like(mean)
    for batch in dataset.batches(batch_size):
        squares += ((batch.x.astype(np.float64) - mean) ** 2).sum(axis=0)
    return np.sqrt(squares / n)


def read_scale_file(path: Path, sample_shape: tuple[int, ...]) -> np.ndarray:
    """A ``.npy`` of finite, non-negative multipliers shaped like a sample (or broadcastable to
    one, e.g. one value per channel ``[C, 1, 1]``), not all zero."""
    info = regular_file_stat(path, "--eps-scale file", DataError)
    if info.st_size > MAX_SCALE_BYTES:
        raise DataError(f"--eps-scale {path}: {info.st_size} bytes is too large for a scale")
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise DataError(f"--eps-scale {path}: not a readable .npy array ({exc})") from None
    if not isinstance(array, np.ndarray) or not np.issubdtype(array.dtype, np.number):
        raise DataError(f"--eps-scale {path}: expected a numeric .npy array")
    values = array.astype(np.float64)
    try:
        values = np.broadcast_to(values, sample_shape).copy()
    except ValueError:
        raise DataError(
            f"--eps-scale {path}: shape {list(array.shape)} does not fit samples of shape "
            f"{list(sample_shape)} (one value per feature)"
        ) from None
    if not np.isfinite(values).all() or (values < 0).any() or not (values > 0).any():
        raise DataError(
            f"--eps-scale {path}: every scale must be finite and >= 0, and one at least > 0"
        )
    return values


def resolve_scale(units: str, scale_file: Path | None, dataset: Dataset) -> EpsScale | None:
    """The per-feature multipliers the configuration asks for, or None for one raw ε."""
    if scale_file is not None and units != "raw":
        raise UsageError(
            "--eps-scale and --eps-units std are exclusive: pick one per-feature scale"
        )
    if scale_file is not None:
        return EpsScale(read_scale_file(scale_file, dataset.sample_shape), "file", str(scale_file))
    if units == "raw":
        return None
    std = feature_std(dataset)
    if not (std > 0).any():
        raise DataError(
            f"{dataset.path}: every feature is constant over the scanned samples: "
            "--eps-units std would perturb nothing"
        )
    return EpsScale(
        std,
        "std",
        f"standard deviation of each feature over the {dataset.n_samples} scanned samples",
    )


def scale_warnings(
    eps: list[float], scale: EpsScale | None, dataset: Dataset, units: str
) -> list[str]:
    """Notes for the report: features that a per-feature ε leaves unperturbed, and one raw ε on
    tabular features whose spreads differ by more than ``SCALE_SPREAD_WARNING``×."""
    if scale is not None:
        zero = int((scale.values == 0).sum())
        return (
            [f"{zero} of {scale.values.size} features have ε scale 0 and are never perturbed"]
            if zero
            else []
        )
    if len(dataset.sample_shape) != 1 or units != "raw":
        return []  # images and sequences share one unit across features
    std = feature_std(dataset)
    spread = std[std > 0]
    if spread.size < 2 or spread.max() <= SCALE_SPREAD_WARNING * spread.min():
        return []
    shown = ", ".join(f"{e:g}" for e in eps)
    return [
        f"feature scales differ by {spread.max() / spread.min():.0f}× (std {spread.min():.3g} … "
        f"{spread.max():.3g}) and ε ({shown}) is one raw number for all of them: it is negligible "
        "for the widest features and huge for the narrowest; consider --eps-units std or "
        "--eps-scale FILE"
    ]
