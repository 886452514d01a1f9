"""Real models trained on the digits robustcheck ships (scikit-learn's), saved as TorchScript and torch.export files.

Built once per test session in a temporary directory; nothing is downloaded or committed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from robustcheck.datasets import load_digits


@dataclass(frozen=True)
class Digits:
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


@dataclass(frozen=True)
class SavedModel:
    module: torch.nn.Module
    torchscript: Path
    pt2: Path


def _split() -> Digits:
    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[:, None]
    y = digits.target.astype(np.int64)
    order = np.random.default_rng(123).permutation(len(y))
    test, train = order[:719], order[719:]
    return Digits(x[train], y[train], x[test], y[test])


def _train(model: torch.nn.Module, data: Digits, epochs: int, lr: float) -> torch.nn.Module:
    torch.manual_seed(1)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    x, y = torch.from_numpy(data.x_train), torch.from_numpy(data.y_train)
    for _ in range(epochs):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    return model.eval()


def save_both(
    module: torch.nn.Module, example: np.ndarray, directory: Path, name: str
) -> SavedModel:
    """Save ``module`` as TorchScript (traced) and as a torch.export program with a dynamic batch."""
    ex = torch.from_numpy(example)
    ts = directory / f"{name}.pt"
    torch.jit.save(torch.jit.trace(module, ex), str(ts))
    pt2 = directory / f"{name}.pt2"
    program = torch.export.export(module, (ex,), dynamic_shapes=({0: torch.export.Dim("batch")},))
    torch.export.save(program, str(pt2))
    return SavedModel(module=module, torchscript=ts, pt2=pt2)


@pytest.fixture(scope="session")
def digits() -> Digits:
    return _split()


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def digits_npz(digits: Digits, model_dir: Path) -> Path:
    path = model_dir / "digits_test.npz"
    np.savez(path, x=digits.x_test, y=digits.y_test)
    return path


@pytest.fixture(scope="session")
def linear_model(digits: Digits, model_dir: Path) -> SavedModel:
    """A shallow softmax classifier (the paper's first experiment, on digits)."""
    torch.manual_seed(0)
    module = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 10))
    module = _train(module, digits, epochs=300, lr=0.05)
    return save_both(module, digits.x_test[:4], model_dir, "linear")


@pytest.fixture(scope="session")
def cnn_model(digits: Digits, model_dir: Path) -> SavedModel:
    torch.manual_seed(0)
    module = torch.nn.Sequential(
        torch.nn.Conv2d(1, 8, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(8 * 4 * 4, 32),
        torch.nn.ReLU(),
        torch.nn.Linear(32, 10),
    )
    module = _train(module, digits, epochs=120, lr=0.01)
    return save_both(module, digits.x_test[:4], model_dir, "cnn")


try:
    import ray  # noqa: F401
except ImportError:  # `make setup` and CI install the ray extra; a bare install runs the rest
    collect_ignore = ["execution/test_ray.py"]


@dataclass(frozen=True)
class TextModel:
    kind: str
    module: torch.nn.Module
    onnx: Path
    """Exported by the TorchScript-based exporter at opset 17."""
    torchscript: Path


@dataclass(frozen=True)
class TextZoo:
    """Tiny BERT- and DistilBERT-style classifiers trained on a synthetic keyword task."""

    test: object
    """The held-out :class:`_textmodels.TextTask`."""
    tokens_npz: Path
    tokenizer: Path
    models: dict[str, TextModel]
    directory: Path


@pytest.fixture(scope="session")
def text_zoo(tmp_path_factory: pytest.TempPathFactory) -> TextZoo:
    import _textmodels as tm

    directory = tmp_path_factory.mktemp("text")
    train, test = tm.make_task(600, seed=0), tm.make_task(48, seed=1)
    models = {}
    for kind in ("bert", "distilbert"):
        module = tm.train(kind, train)
        path = tm.export_onnx(module, train, directory / f"{kind}.onnx", dynamo=False)
        traced = tm.export_torchscript(module, train, directory / f"{kind}.pt")
        models[kind] = TextModel(kind, module, path, traced)
    npz = directory / "tokens.npz"
    np.savez(
        npz,
        input_ids=test.input_ids,
        attention_mask=test.attention_mask,
        y=test.y,
        special_ids=np.arange(len(tm.SPECIALS)),
    )
    tokenizer = tm.save_tokenizer(train.vocab, directory / "tokenizer.json")
    return TextZoo(test, npz, tokenizer, models, directory)


SMOKE = tuple(
    line.strip()
    for line in (Path(__file__).parent / "smoke.txt").read_text().splitlines()
    if line.strip() and not line.startswith("#")
)
"""The smoke subset (``-m smoke``), listed in tests/smoke.txt so `make` can name the files too."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    root = Path(__file__).parent
    gone = [path for path in SMOKE if not (root / path).is_file()]
    if gone:  # a renamed module must not silently leave the smoke subset
        raise pytest.UsageError(f"tests/conftest.py SMOKE names missing modules: {gone}")
    for item in items:
        if item.path.is_relative_to(root) and item.path.relative_to(root).as_posix() in SMOKE:
            item.add_marker(pytest.mark.smoke)
