"""robustcheck feeds a PyTorch model one tensor: a forward that needs more (or another kind) is
refused in one line naming that, never blamed on the data's layout (NCHW/NHWC) or shape."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from robustcheck.cli import main


class TwoTensors(torch.nn.Module):
    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], -1)[:, :10] + y


class OptionalScale(torch.nn.Module):
    def forward(self, x: torch.Tensor, scale: float = 2.0) -> torch.Tensor:
        return x.reshape(x.shape[0], -1)[:, :10] * scale


class PairOfTensors(torch.nn.Module):
    def forward(self, xs: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        return xs[0].reshape(xs[0].shape[0], -1)[:, :10] + xs[1]


def _save(module: torch.nn.Module, path, fmt: str):
    if fmt == "torchscript":
        torch.jit.save(torch.jit.script(module), str(path))
    else:
        example = (torch.zeros(2, 1, 8, 8), torch.zeros(2, 10))
        torch.export.save(torch.export.export(module, example), str(path))
    return path


def _one_line(code: int, err: str) -> str:
    lines = err.strip().splitlines()
    assert code == 3 and len(lines) == 1 and "Traceback" not in err, err
    assert "NCHW" not in lines[0] and "layout" not in lines[0], err
    return lines[0]


@pytest.mark.parametrize("fmt, suffix", [("torchscript", ".pt"), ("torch.export", ".pt2")])
def test_a_forward_taking_two_tensors_is_refused_naming_its_arity(
    fmt, suffix, tmp_path, digits_npz, capsys
):
    model = _save(TwoTensors(), tmp_path / f"two{suffix}", fmt)
    code = main(["scan", str(model), "--data", str(digits_npz), "--eps", "0.1", "--limit", "20"])
    line = _one_line(code, capsys.readouterr().err)
    assert f"{model}: its forward takes 2 inputs ('x', 'y')" in line
    assert "robustcheck feeds a PyTorch model one" in line


def test_an_argument_with_a_default_is_not_required(tmp_path, digits_npz, capsys):
    model = _save(OptionalScale(), tmp_path / "scale.pt", "torchscript")
    argv = ["scan", str(model), "--data", str(digits_npz), "--eps", "0.1", "--limit", "20"]
    code = main([*argv, "--allow-low-accuracy"])
    assert code in (0, 1), capsys.readouterr().err


def test_a_forward_taking_a_tuple_is_refused_naming_its_argument(tmp_path, digits_npz, capsys):
    """One argument, so the signature passes; the call says what it wanted instead."""
    model = _save(PairOfTensors(), tmp_path / "pair.pt", "torchscript")
    code = main(["scan", str(model), "--data", str(digits_npz), "--eps", "0.1", "--limit", "20"])
    line = _one_line(code, capsys.readouterr().err)
    assert f"{model}: its forward does not take one tensor" in line
    assert "Tuple[Tensor, Tensor]" in line


def test_the_data_shape_hint_still_follows_a_shape_error(tmp_path, linear_model, capsys):
    """Data of the wrong layout is still blamed on the data, with the layout hint."""
    data = tmp_path / "nhwc.npz"
    np.savez(data, x=np.zeros((20, 8, 8, 3), np.float32), y=np.zeros(20, np.int64))
    code = main(["scan", str(linear_model.torchscript), "--data", str(data), "--eps", "0.1"])
    err = capsys.readouterr().err
    assert code == 3 and "layout" in err and "forward" not in err, err
