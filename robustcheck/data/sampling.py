"""Deterministic subsets for ``--limit`` and ``--per-class``, and the manifest hash naming them.

- ``per_class=K``: K samples of every class, drawn at random (seeded); a class with fewer than K
  samples contributes all of them, and the returned dataset's ``notes`` say which.
- ``limit=N``: a stratified sample: each class gets ``N * n_c / n`` samples, rounded down, and the
  leftover places go to the classes with the largest remainders (ties: lower class index). Without
  labels, N samples drawn uniformly at random.
- both: ``per_class`` first, then ``limit`` on what it kept.

Each class draws from its own random stream (seeded by ``seed`` and the class), so the samples
chosen for one class do not depend on what other classes the data holds. The subset is returned
in file order.
"""

from __future__ import annotations

import hashlib
from dataclasses import replace

import numpy as np

from robustcheck.data.base import Dataset
from robustcheck.errors import UsageError

_PER_CLASS, _LIMIT, _UNLABELLED = 1, 2, 3


def select(
    dataset: Dataset, *, limit: int | None, per_class: int | None, seed: int
) -> tuple[Dataset, str]:
    """The subset of ``dataset`` to scan and its manifest sha256 (see :func:`manifest_sha256`)."""
    if limit is not None and limit < 1:
        raise UsageError(f"--limit: {limit} is not a positive number of samples")
    if per_class is not None and per_class < 1:
        raise UsageError(f"--per-class: {per_class} is not a positive number of samples")
    chosen = dataset.indices()
    notes: list[str] = []
    if per_class is not None:
        if dataset.y is None:
            raise UsageError(
                f"--per-class: {dataset.path} has no labels to sample classes by",
                hint="use --limit for a uniform sample",
            )
        chosen = _per_class(chosen, dataset.y[chosen], per_class, seed, notes)
    if limit is not None:
        if dataset.y is None:
            chosen = _draw(chosen, limit, seed, _UNLABELLED, 0)
        else:
            chosen = _stratified(chosen, dataset.y[chosen], limit, seed)
    subset = dataset if chosen.size == dataset.n_samples else dataset.select(chosen)
    if notes:
        subset = replace(subset, notes=(*subset.notes, *notes))
    return subset, manifest_sha256(subset)


def manifest_sha256(dataset: Dataset) -> str:
    """sha256 of ``"<dataset sha256>\\n"`` followed by the scanned file indices, ascending,
    in decimal, comma-separated: one hash for "these samples of this data"."""
    digest = hashlib.sha256(f"{dataset.sha256}\n".encode())
    digest.update(",".join(str(i) for i in dataset.indices().tolist()).encode())
    return digest.hexdigest()


def _per_class(
    indices: np.ndarray, y: np.ndarray, k: int, seed: int, notes: list[str]
) -> np.ndarray:
    kept = []
    short = []
    for label in np.unique(y):
        members = indices[y == label]
        if members.size <= k:
            short.append(f"{int(label)} ({members.size})")
        kept.append(_draw(members, k, seed, _PER_CLASS, int(label)))
    if short:
        notes.append(
            f"--per-class {k}: {len(short)} classes have fewer samples and were taken whole: "
            + ", ".join(short[:10])
            + (" ..." if len(short) > 10 else "")
        )
    return np.sort(np.concatenate(kept))


def _stratified(indices: np.ndarray, y: np.ndarray, n: int, seed: int) -> np.ndarray:
    labels, counts = np.unique(y, return_counts=True)
    total = int(counts.sum())
    if n >= total:
        return indices
    # Exact integer arithmetic: quotas and remainders never suffer float rounding.
    quota = [n * int(c) // total for c in counts]
    remainder = [n * int(c) % total for c in counts]
    leftover = n - sum(quota)
    for i in sorted(range(len(labels)), key=lambda i: (-remainder[i], i))[:leftover]:
        quota[i] += 1
    kept = [
        _draw(indices[y == label], q, seed, _LIMIT, int(label))
        for label, q in zip(labels, quota, strict=True)
        if q
    ]
    return np.sort(np.concatenate(kept))


def _draw(indices: np.ndarray, k: int, seed: int, purpose: int, label: int) -> np.ndarray:
    """``k`` of ``indices`` (all when there are no more), from a stream seeded per purpose/class."""
    if indices.size <= k:
        return indices
    rng = np.random.default_rng([seed & 0xFFFFFFFFFFFFFFFF, purpose, label])
    return np.sort(rng.choice(indices, size=k, replace=False))
