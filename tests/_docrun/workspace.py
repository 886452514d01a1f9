"""The files the documentation's commands name, made here from the demo digits CNN.

A user who follows the docs has ``model.onnx``, ``sample.npz``, ``train.npz``... in the folder
they type in. So does each document here: it runs in a fresh copy of a *flavour* of those files,
built once per test session and only when a document asks for it.

- ``digits`` (the default): the demo CNN (``robustcheck.cli.demo_model``) as ``model.onnx``,
  ``model.pt`` (TorchScript) and ``model.pt2``; its digits as ``sample.npz``/``test.npz``
  (100 samples), ``val.npz`` (100 others), ``train.npz`` (200), ``test.npy`` + ``labels.txt``;
  ``policy.yaml`` and ``baseline.json`` (a saved scan report).
- ``tabular``: ``forest.onnx``, a 30-tree random forest on scikit-learn's breast_cancer, with
  ``train.npz`` (all 569 rows) and ``test.npz`` (114 of them).
- ``text``: ``model.onnx``, a tiny BERT-style classifier (tests/_textmodels.py) taking ``input_ids`` and
  ``attention_mask``, ``tokenizer.json``, ``test.jsonl``, and ``my-model/``: a Hugging Face model
  folder, so ``from_pretrained("my-model")`` finds it without a download.

The samples are small so that every documented command runs in seconds; the docs never promise
a sample size.
"""

from __future__ import annotations

import json
import shutil
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock

N_SAMPLE = 100
N_TRAIN = 200

FIRST_POLICY = """\
version: 1
min_clean_accuracy: 0.9
budgets:
  - eps: 0.1
    max_adversarial_error_rate: 0.3
"""


_DONE = ".complete"
_CNN_STATE = "digits_cnn.state.pt"
"""The trained CNN's weights, for the README's example that saves a model (not copied)."""


class Workspaces:
    """Flavours of the docs' working folder, each built on first use (a session fixture).

    ``root`` may be shared by the xdist workers of one session: a file lock lets the first
    worker that needs a flavour build it and the others wait for it.
    """

    def __init__(self, root: Path) -> None:
        self.root = root

    def flavour(self, name: str) -> Path:
        if name not in _BUILDERS:
            raise ValueError(f"no workspace flavour {name!r}; known: {', '.join(_BUILDERS)}")
        folder = self.root / name
        with FileLock(self.root / f"{name}.lock"):
            if not (folder / _DONE).is_file():
                shutil.rmtree(folder, ignore_errors=True)  # a build that died half-way
                folder.mkdir(parents=True)
                _BUILDERS[name](folder)
                (folder / _DONE).touch()
        return folder

    def copy(self, name: str, destination: Path) -> Path:
        """A fresh copy of flavour ``name`` at ``destination``, for one document to change."""
        ignore = shutil.ignore_patterns(_DONE, _CNN_STATE)
        shutil.copytree(self.flavour(name), destination, ignore=ignore)
        return destination

    def trained_digits_cnn(self) -> tuple[Any, Any, np.ndarray, np.ndarray]:
        """``(model, example_batch, inputs, labels)``: what the README's saving example assumes."""
        import torch

        from robustcheck.cli import demo_model

        folder = self.flavour("digits")
        model = demo_model.build_cnn()
        assert isinstance(model, torch.nn.Module)
        model.load_state_dict(torch.load(folder / _CNN_STATE))
        data = np.load(folder / "sample.npz")
        inputs, labels = data["x"], data["y"]
        return model.eval(), torch.from_numpy(inputs[:2]), inputs, labels


def _digits(folder: Path) -> None:
    import torch

    from robustcheck.cli import demo_model, main

    x_train, y_train, x_test, y_test = demo_model.digits_split()
    model = demo_model.train(demo_model.build_cnn(), x_train, y_train)
    assert isinstance(model, torch.nn.Module)
    torch.save(model.state_dict(), folder / _CNN_STATE)
    example = torch.from_numpy(x_test[:2])
    torch.jit.save(torch.jit.trace(model, example), str(folder / "model.pt"))
    program = torch.export.export(
        model, (example,), dynamic_shapes=({0: torch.export.Dim.DYNAMIC},)
    )
    torch.export.save(program, str(folder / "model.pt2"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model, (example,), str(folder / "model.onnx"), dynamo=False,
            input_names=["input"], output_names=["logits"],
            dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
        )  # fmt: skip
    sample = slice(0, N_SAMPLE)
    for name in ("sample.npz", "test.npz"):
        np.savez(folder / name, x=x_test[sample], y=y_test[sample])
    val = slice(N_SAMPLE, 2 * N_SAMPLE)
    np.savez(folder / "val.npz", x=x_test[val], y=y_test[val])
    np.savez(folder / "train.npz", x=x_train[:N_TRAIN], y=y_train[:N_TRAIN])
    np.save(folder / "test.npy", x_test[sample])
    (folder / "labels.txt").write_text("".join(f"{label}\n" for label in y_test[sample]))
    (folder / "policy.yaml").write_text(FIRST_POLICY)
    args = ["scan", str(folder / "model.onnx"), "--data", str(folder / "test.npz")]
    args += ["--eps", "0.03", "--eps", "0.1", "--json", str(folder / "baseline.json")]
    assert main([*args, "--no-isolation", "--report-only", "--no-step-summary"]) == 0


def _tabular(folder: Path) -> None:
    from skl2onnx import to_onnx
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import RandomForestClassifier

    data = load_breast_cancer()
    x, y = data.data.astype(np.float32), data.target.astype(np.int64)
    forest = RandomForestClassifier(n_estimators=30, max_depth=6, random_state=0).fit(x, y)
    onnx_model = to_onnx(
        forest, x[:1], options={id(forest): {"zipmap": False}},
        target_opset={"": 17, "ai.onnx.ml": 3},
    )  # fmt: skip
    (folder / "forest.onnx").write_bytes(onnx_model.SerializeToString())
    np.savez(folder / "train.npz", x=x, y=y)
    test = np.random.default_rng(0).permutation(len(y))[:114]
    np.savez(folder / "test.npz", x=x[test], y=y[test])


def _text(folder: Path) -> None:
    import _textmodels as tm
    import transformers

    train, test = tm.make_task(600, seed=0), tm.make_task(48, seed=1)
    tokenizer = tm.save_tokenizer(train.vocab, folder / "tokenizer.json")
    with (folder / "test.jsonl").open("w") as lines:
        for text, label in zip(test.texts, test.y, strict=True):
            lines.write(json.dumps({"text": text, "label": int(label)}) + "\n")
    model = tm.train("bert", train, steps=30)  # enough to learn the keyword task
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tm.export_onnx(model, train, folder / "model.onnx", dynamo=False)
    # A model folder for the export recipe, with room for its 128-token example.
    config = transformers.BertConfig(
        vocab_size=len(train.vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=128, num_labels=2,
    )  # fmt: skip
    transformers.BertForSequenceClassification(config).save_pretrained(folder / "my-model")
    fast = transformers.PreTrainedTokenizerFast(
        tokenizer_file=str(tokenizer), pad_token="[PAD]", unk_token="[UNK]",
        cls_token="[CLS]", sep_token="[SEP]",
    )  # fmt: skip
    fast.save_pretrained(folder / "my-model")


_BUILDERS: dict[str, Callable[[Path], None]] = {
    "digits": _digits,
    "tabular": _tabular,
    "text": _text,
}
