"""The digits shipped in the package are scikit-learn's, unchanged."""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_digits as sklearn_digits

from robustcheck.datasets import load_digits


def test_the_shipped_digits_equal_scikit_learns():
    ours, theirs = load_digits(), sklearn_digits()
    assert ours.images.dtype == np.uint8 and ours.target.dtype == np.int64
    np.testing.assert_array_equal(ours.images, theirs.images)
    np.testing.assert_array_equal(ours.target, theirs.target)
