"""Shared files of the hostile-input suite, built once per session from the digits models.

Every hostile file is generated per case, in its own tmp_path, by the builders in ``_*.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hostile import _onnx
from hostile._case import Shared


class Spin(torch.nn.Module):
    """Depends on its input but takes minutes per forward: a scan that is surely still running."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        acc = x.reshape(x.shape[0], -1)[:, :10]
        for _ in range(1_000_000_000):
            acc = acc + 0.0
        return acc


@pytest.fixture(scope="session")
def shared(tmp_path_factory, digits, digits_npz, linear_model, cnn_model, model_dir) -> Shared:
    root = tmp_path_factory.mktemp("hostile-shared")
    layer = linear_model.module[1]
    weights = layer.weight.detach().numpy().T.copy()
    bias = layer.bias.detach().numpy().copy()
    spin = root / "spin.pt"
    torch.jit.save(torch.jit.script(Spin()), str(spin))
    return Shared(
        roots=(Path(model_dir), root),
        cnn_pt=cnn_model.torchscript,
        cnn_pt2=cnn_model.pt2,
        linear_pt=linear_model.torchscript,
        linear_onnx=_onnx.save(_onnx.linear(weights, bias), root / "linear.onnx"),
        spin_pt=spin,
        npz=digits_npz,
        x=digits.x_test,
        y=digits.y_test,
        linear_weights=weights,
    )
