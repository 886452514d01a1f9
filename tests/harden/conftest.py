"""A small MLP trained on digits, saved as TorchScript and ONNX, with train/test files."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from _onnx_zoo import export_onnx


@dataclass(frozen=True)
class MLP:
    torchscript: Path
    onnx: Path
    train: Path
    test: Path


@pytest.fixture(scope="session")
def mlp(digits, tmp_path_factory: pytest.TempPathFactory) -> MLP:
    root = tmp_path_factory.mktemp("harden")
    torch.manual_seed(0)
    module = torch.nn.Sequential(
        torch.nn.Flatten(), torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10)
    )
    opt = torch.optim.Adam(module.parameters(), lr=0.01)
    x, y = torch.from_numpy(digits.x_train), torch.from_numpy(digits.y_train)
    for _ in range(300):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(module(x), y).backward()
        opt.step()
    module.eval()
    example = torch.from_numpy(digits.x_test[:4])
    ts = root / "mlp.pt"
    torch.jit.save(torch.jit.trace(module, example), str(ts))
    onnx_path = export_onnx(module, example, root / "mlp.onnx", "torchscript-17")
    train, test = root / "train.npz", root / "test.npz"
    np.savez(train, x=digits.x_train, y=digits.y_train)
    np.savez(test, x=digits.x_test, y=digits.y_test)
    return MLP(torchscript=ts, onnx=onnx_path, train=train, test=test)
