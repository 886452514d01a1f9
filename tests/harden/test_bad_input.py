"""Bad input to harden: one line, the right exit code, the model file untouched."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch

from robustcheck.cli import main


class NoParameters(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.flatten(1)[:, :10] * 3.0


@pytest.fixture
def no_parameters(tmp_path, digits):
    path = tmp_path / "fixed.pt"
    torch.jit.save(torch.jit.trace(NoParameters(), torch.from_numpy(digits.x_test[:4])), str(path))
    return path


def _run(capsys, model, *args: str) -> tuple[int, str]:
    before = hashlib.sha256(model.read_bytes()).hexdigest()
    code = main(["harden", str(model), *args])
    err = capsys.readouterr().err
    assert hashlib.sha256(model.read_bytes()).hexdigest() == before
    return code, err


def test_model_without_float_parameters(capsys, no_parameters, mlp, tmp_path):
    code, err = _run(
        capsys, no_parameters, "--data", str(mlp.test), "--eps", "0.1", "-o", str(tmp_path / "o.pt")
    )
    assert code == 3 and "no trainable float parameters" in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o.pt").exists()


def test_eps_outside_the_domain(capsys, mlp, tmp_path):
    code, err = _run(
        capsys, mlp.onnx, "--data", str(mlp.test), "--eps", "1.5", "-o", str(tmp_path / "o.onnx")
    )
    assert code == 2 and "not smaller than the whole valid input range [0, 1]" in err
    assert len(err.strip().splitlines()) == 1


def test_data_without_labels(capsys, mlp, digits, tmp_path):
    unlabelled = tmp_path / "x.npz"
    np.savez(unlabelled, x=digits.x_test)
    code, err = _run(
        capsys, mlp.onnx, "--data", str(unlabelled), "--eps", "0.1", "-o", str(tmp_path / "o.onnx")
    )
    assert code == 3 and "has no labels" in err
    assert len(err.strip().splitlines()) == 1


def test_output_over_the_input_is_refused(capsys, mlp):
    code, err = _run(capsys, mlp.onnx, "--data", str(mlp.test), "--eps", "0.1", "-o", str(mlp.onnx))
    assert code == 2 and "is also an input" in err
