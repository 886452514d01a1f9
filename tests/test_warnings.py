"""Dependency warnings are recorded where robustcheck calls the dependency, never printed: the
irrelevant ones dropped, the others one line each."""

from __future__ import annotations

import io
import json
import os
import warnings
from pathlib import Path

import numpy as np
import torch

from robustcheck._warnings import (
    MAX_NOTES,
    TORCHSCRIPT_DEPRECATED,
    Irrelevant,
    native_warnings,
    recorded_warnings,
)
from robustcheck.cli import main


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


def test_torch_s_own_printed_warnings_are_captured_and_other_lines_pass_through(capfd):
    """torch's C++ TORCH_WARN prints straight to the process's stderr where no Python caller
    converts it (deserialising a quantized TorchScript file does): captured, parsed; any other
    line written there is passed on unchanged."""
    with native_warnings() as found:
        os.write(2, b"[W1206 19:55:16.701346553 Quantizer.cpp:111] Warning: quantized tensors "
                    b"are deprecated (function operator())\n")  # fmt: skip
        os.write(2, b"a line of the model's own\n")
    assert found == ["quantized tensors are deprecated"]
    assert capfd.readouterr().err == "a line of the model's own\n"


class _Warns(torch.nn.Module):
    """Warns from its forward, as models do (a range check, a deprecated argument)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = torch.nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if bool(x.max() > 0.5):
            warnings.warn("inputs above the calibrated range")  # noqa: B028 (TorchScript)
        return self.fc(x.reshape(x.shape[0], -1))


def test_a_warning_the_model_raises_while_scanned_is_a_report_note_not_printed(
    tmp_path: Path, capfd
):
    torch.manual_seed(0)
    model = tmp_path / "warns.pt"
    torch.jit.save(torch.jit.script(_Warns()), str(model))
    data = tmp_path / "d.npz"
    rng = np.random.default_rng(0)
    np.savez(data, x=rng.random((40, 64), dtype=np.float32), y=rng.integers(0, 10, 40))
    report = tmp_path / "r.json"
    code = main(
        ["scan", str(model), "--data", str(data), "--eps", "0.1", "--json", str(report),
         "--no-gap-probe", "--allow-low-accuracy"]
    )  # fmt: skip
    err = capfd.readouterr().err
    assert code in (0, 1), err
    assert "Warning" not in err and "calibrated" not in err, err
    warned = json.loads(report.read_text())["warnings"]
    expected = "a warning was raised while the scan ran the model: UserWarning: inputs above the"
    assert sum(expected in line for line in warned) == 1, warned


def test_a_warning_raised_on_every_call_is_kept_once_and_distinct_ones_are_bounded():
    with recorded_warnings() as notes:
        for _ in range(10_000):
            warnings.warn("per call", UserWarning, stacklevel=1)
        for k in range(2 * MAX_NOTES):
            warnings.warn(f"distinct {k}", UserWarning, stacklevel=1)
    assert notes[0] == "UserWarning: per call"
    assert len(notes) == MAX_NOTES
