from __future__ import annotations

import hashlib
from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from robustcheck.data import ArraySource, Dataset, select
from robustcheck.errors import UsageError


def _dataset(counts: list[int] | None, n: int | None = None, *, seed: int = 0) -> Dataset:
    if counts is None:
        y = None
        size = n or 0
    else:
        y = np.random.default_rng(seed).permutation(np.repeat(np.arange(len(counts)), counts))
        size = y.size
    return Dataset(
        path="mem.npz",
        format="npz",
        sha256="ab" * 32,
        source=ArraySource(np.arange(size, dtype=np.float32)[:, None]),
        y=y,
        x_key="x",
        y_key=None if y is None else "y",
    )


def _per_class_counts(dataset: Dataset) -> list[int]:
    return np.bincount(dataset.y[dataset.indices()], minlength=int(dataset.y.max()) + 1).tolist()


def test_limit_is_proportional_per_class():
    subset, _ = select(_dataset([50, 30, 20]), limit=10, per_class=None, seed=0)
    assert _per_class_counts(subset) == [5, 3, 2]


def test_leftover_places_go_to_the_largest_remainders():
    # quotas 3.5, 2.1, 1.4 -> floors 3, 2, 1 and the one leftover place to class 0 (remainder .5)
    subset, _ = select(_dataset([5, 3, 2]), limit=7, per_class=None, seed=3)
    assert _per_class_counts(subset) == [4, 2, 1]


def test_remainder_ties_go_to_the_lower_class_index():
    subset, _ = select(_dataset([3, 3, 3]), limit=4, per_class=None, seed=0)
    assert _per_class_counts(subset) == [2, 1, 1]


def test_the_same_seed_gives_the_same_subset_and_manifest():
    data = _dataset([40, 40, 20])
    first = select(data, limit=17, per_class=None, seed=5)
    again = select(data, limit=17, per_class=None, seed=5)
    other = select(data, limit=17, per_class=None, seed=6)
    np.testing.assert_array_equal(first[0].indices(), again[0].indices())
    assert first[1] == again[1]
    assert not np.array_equal(first[0].indices(), other[0].indices())
    assert first[1] != other[1]


def test_subsets_come_in_file_order_with_their_labels():
    data = _dataset([30, 30])
    subset, _ = select(data, limit=12, per_class=None, seed=1)
    indices = subset.indices()
    assert np.all(np.diff(indices) > 0)
    (batch,) = subset.batches(64)
    np.testing.assert_array_equal(batch.indices, indices)
    np.testing.assert_array_equal(batch.y, data.y[indices])
    np.testing.assert_array_equal(batch.x[:, 0], indices.astype(np.float32))


def test_per_class_takes_k_of_each_and_all_of_a_short_class():
    subset, _ = select(_dataset([10, 2, 7]), limit=None, per_class=5, seed=0)
    assert _per_class_counts(subset) == [5, 2, 5]
    assert any("1 classes have fewer samples" in note and "1 (2)" in note for note in subset.notes)


def test_per_class_then_limit():
    subset, _ = select(_dataset([100, 100, 10]), limit=12, per_class=20, seed=0)
    # per_class keeps 20, 20, 10 (50); limit 12 of those: 4.8, 4.8, 2.4 -> 4, 4, 2 + 2 leftovers
    assert _per_class_counts(subset) == [5, 5, 2]


def test_a_class_draws_the_same_samples_whatever_other_classes_exist():
    y = np.array([0] * 20 + [1] * 20)
    both = replace(_dataset(None, 40), y=y)
    only = replace(both, y=y[:20], source=ArraySource(np.zeros((20, 1))))
    a, _ = select(both, limit=None, per_class=4, seed=9)
    b, _ = select(only, limit=None, per_class=4, seed=9)
    np.testing.assert_array_equal(a.indices()[:4], b.indices())


def test_unlabelled_data_gets_a_seeded_uniform_sample():
    data = _dataset(None, 100)
    subset, _ = select(data, limit=10, per_class=None, seed=2)
    assert subset.n_samples == 10
    np.testing.assert_array_equal(
        subset.indices(), select(data, limit=10, per_class=None, seed=2)[0].indices()
    )
    with pytest.raises(UsageError, match=r"--per-class.*no labels"):
        select(data, limit=None, per_class=3, seed=0)


def test_a_limit_beyond_the_data_keeps_everything():
    data = _dataset([3, 4])
    subset, digest = select(data, limit=100, per_class=None, seed=0)
    assert subset.n_samples == 7
    assert select(data, limit=None, per_class=None, seed=0)[1] == digest


def test_manifest_is_the_documented_hash():
    data = _dataset([5, 5])
    subset, digest = select(data, limit=4, per_class=None, seed=0)
    text = "ab" * 32 + "\n" + ",".join(str(i) for i in subset.indices())
    assert digest == hashlib.sha256(text.encode()).hexdigest()


@pytest.mark.parametrize(("limit", "per_class"), [(0, None), (None, 0), (-3, None)])
def test_non_positive_sizes_are_usage_errors(limit, per_class):
    with pytest.raises(UsageError):
        select(_dataset([3]), limit=limit, per_class=per_class, seed=0)


@settings(max_examples=60, deadline=None)
@given(
    counts=st.lists(st.integers(1, 40), min_size=1, max_size=6),
    limit=st.integers(1, 120),
    seed=st.integers(-(2**70), 2**70),
)
def test_stratified_limits_are_exact_and_proportional(counts, limit, seed):
    data = _dataset(counts)
    subset, _ = select(data, limit=limit, per_class=None, seed=seed)
    total = sum(counts)
    got = _per_class_counts(subset) + [0] * len(counts)
    assert subset.n_samples == min(limit, total)
    for c, n_c in enumerate(counts):
        exact = min(limit, total) * n_c / total
        assert abs(got[c] - exact) < 1  # largest remainder never strays a whole sample
        assert got[c] <= n_c
