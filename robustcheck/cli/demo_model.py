"""A small CNN trained on the digits shipped inside robustcheck, saved as a ``torch.export``
program (``.pt2``), for ``robustcheck demo``.

Everything is built locally from data inside the installed package: nothing is downloaded and no
extra is needed. Training is deterministic and takes a few seconds on a laptop CPU; the result is
cached.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from robustcheck._version import __version__
from robustcheck._warnings import deprecations_dropped
from robustcheck.datasets import load_digits

TEST_FRACTION = 0.4
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DemoFiles:
    model: Path
    """The trained CNN as a ``torch.export`` program with a dynamic batch size."""
    data: Path
    """The held-out test split: ``x`` float32 ``[N, 1, 8, 8]`` in [0, 1], ``y`` int64."""


def cache_dir() -> Path:
    root = os.environ.get("ROBUSTCHECK_CACHE_DIR") or os.environ.get("XDG_CACHE_HOME")
    base = Path(root) if root else Path.home() / ".cache"
    return (
        base if os.environ.get("ROBUSTCHECK_CACHE_DIR") else base / "robustcheck"
    ) / f"demo-{__version__}"


def digits_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Digits as float32 images ``[N, 1, 8, 8]`` in [0, 1]; a fixed 60/40 train/test split."""
    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[:, None, :, :]
    y = digits.target
    order = np.random.default_rng(0).permutation(len(y))
    n_test = round(TEST_FRACTION * len(y))
    test, train = order[:n_test], order[n_test:]
    return x[train], y[train], x[test], y[test]


def build_cnn() -> object:
    import torch

    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 16, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(16, 32, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.Flatten(),
        torch.nn.Linear(32 * 4 * 4, 10),
    )


def train(
    model: object, x: np.ndarray, y: np.ndarray, *, epochs: int = 60, lr: float = 0.01
) -> object:
    """Full-batch Adam; deterministic for a fixed seed and thread count."""
    import torch

    assert isinstance(model, torch.nn.Module)
    torch.manual_seed(0)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    model.train()
    for _ in range(epochs):
        optimiser.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(xt), yt)
        loss.backward()
        optimiser.step()
    return model.eval()


def export(model: object, example: np.ndarray, path: Path) -> None:
    """Save ``model`` as a ``torch.export`` program whose batch size is dynamic."""
    import torch

    assert isinstance(model, torch.nn.Module)
    batch = torch.export.Dim("batch")
    with deprecations_dropped(log, "saving the demo model"):
        program = torch.export.export(
            model, (torch.from_numpy(example),), dynamic_shapes=({0: batch},)
        )
        torch.export.save(program, str(path))


def prepare(directory: Path | None = None) -> DemoFiles:
    """Train and save the demo model and test data once; later calls reuse the files (without
    importing torch here: the scan's child process imports it anyway)."""
    directory = directory or cache_dir()
    files = DemoFiles(model=directory / "digits_cnn.pt2", data=directory / "digits_test.npz")
    if files.model.is_file() and files.data.is_file():
        return files
    directory.mkdir(parents=True, exist_ok=True)
    x_train, y_train, x_test, y_test = digits_split()
    model = train(build_cnn(), x_train, y_train)
    tmp_model = directory / "digits_cnn.tmp.pt2"
    export(model, x_test[:2], tmp_model)
    tmp_data = directory / "digits_test.tmp.npz"
    np.savez(tmp_data, x=x_test, y=y_test)
    tmp_data.replace(files.data)
    tmp_model.replace(files.model)
    return files
