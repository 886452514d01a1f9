"""Dependency warnings are recorded where robustcheck calls the dependency, never printed: the
irrelevant ones dropped, the others one line each."""

from __future__ import annotations

import io
import warnings

import torch

from robustcheck._warnings import TORCHSCRIPT_DEPRECATED, Irrelevant, recorded_warnings


def test_torchscript_deprecations_are_dropped_and_others_become_one_line_each():
    with warnings.catch_warnings(record=True) as escaped:
        warnings.simplefilter("always")
        with recorded_warnings([TORCHSCRIPT_DEPRECATED]) as notes:
            module = torch.nn.Linear(3, 2).eval()
            torch.jit.save(torch.jit.trace(module, torch.zeros(1, 3)), io.BytesIO())
            for _ in range(3):
                warnings.warn("the scores drift\nmore detail", UserWarning, stacklevel=1)
            warnings.warn("old keyword", FutureWarning, stacklevel=1)
    assert escaped == []
    assert notes == ["UserWarning: the scores drift", "FutureWarning: old keyword"]


def test_nothing_is_dropped_unless_said_irrelevant():
    only_future = Irrelevant((FutureWarning,), r"keyword")
    with recorded_warnings([only_future]) as notes:
        warnings.warn("old keyword", FutureWarning, stacklevel=1)
        warnings.warn("old keyword", DeprecationWarning, stacklevel=1)
    assert notes == ["DeprecationWarning: old keyword"]
