"""Reading one batch ahead (as a GPU scan does) changes nothing but when the batch is read."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from robustcheck.data import load_dataset
from robustcheck.engine.prefetch import staged
from robustcheck.plugins import data_registry


@pytest.fixture
def dataset(digits_npz):
    registry, _ = data_registry()
    return load_dataset(digits_npz, registry=registry)


def test_read_ahead_gives_the_same_batches_in_the_same_order(dataset):
    plain = list(staged(dataset.batches(100), pin=False, ahead=False))
    ahead = list(staged(dataset.batches(100), pin=False, ahead=True))
    assert (
        [s.batch.start for s in ahead] == [s.batch.start for s in plain] == list(range(0, 719, 100))
    )
    for a, b in zip(ahead, plain, strict=True):
        assert np.array_equal(a.batch.x, b.batch.x) and np.array_equal(a.batch.y, b.batch.y)
        assert torch.equal(a.to(torch.device("cpu")), torch.from_numpy(b.batch.x))


def test_an_error_reading_a_batch_is_raised_where_that_batch_is_read(dataset):
    def failing():
        batches = dataset.batches(100)
        yield next(batches)
        yield next(batches)
        raise OSError("the disk went away")

    seen = []
    with pytest.raises(OSError, match="the disk went away"):
        for item in staged(failing(), pin=False, ahead=True):
            seen.append(item.batch.start)
    assert seen == [0, 100]


def test_a_consumer_that_stops_early_leaves_no_thread_behind(dataset):
    import threading

    for item in staged(dataset.batches(100), pin=False, ahead=True):
        if item.batch.start == 200:
            break
    assert not [t for t in threading.enumerate() if t.name.startswith("robustcheck-prefetch")]
