"""Tiny BERT- and DistilBERT-style classifiers trained in the test session on a synthetic task.

The task: a text is a handful of filler words, one *keyword* that decides the label (positive or
negative) and a *distractor* drawn from either keyword list's look-alikes. The vocabulary is built
in code, and so is a ``tokenizers`` WordLevel tokenizer saved as ``tokenizer.json``. Nothing is
downloaded: the models come from ``transformers`` configs with random initialisation.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]")
PAD, UNK, CLS, SEP = range(4)
SEQ_LEN = 16
_SYLLABLES = ("ba", "ko", "mi", "tu", "re", "sa", "lo", "ne", "vi", "da", "pe", "zu", "fo", "gi")
POSITIVE = ("good", "great", "fine", "happy", "bright")
NEGATIVE = ("bad", "awful", "poor", "sad", "dark")


def vocabulary() -> list[str]:
    words = [a + b for a in _SYLLABLES for b in _SYLLABLES][:180]
    capitalised = [w.capitalize() for w in words[:8]]
    return [*SPECIALS, *POSITIVE, *NEGATIVE, *words, *capitalised]


@dataclass(frozen=True)
class TextTask:
    vocab: list[str]
    texts: list[str]
    input_ids: np.ndarray
    attention_mask: np.ndarray
    y: np.ndarray


def make_task(n: int, seed: int) -> TextTask:
    vocab = vocabulary()
    fillers = vocab[len(SPECIALS) + len(POSITIVE) + len(NEGATIVE) :]
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for _ in range(n):
        label = int(rng.integers(2))
        words = list(rng.choice(fillers, size=int(rng.integers(4, 11))))
        keyword = rng.choice(POSITIVE if label else NEGATIVE)
        words.insert(int(rng.integers(len(words) + 1)), str(keyword))
        texts.append(" ".join(str(w) for w in words))
        labels.append(label)
    index = {w: i for i, w in enumerate(vocab)}
    ids = np.full((n, SEQ_LEN), PAD, dtype=np.int64)
    mask = np.zeros((n, SEQ_LEN), dtype=np.int64)
    for row, text in enumerate(texts):
        words = [index.get(w, UNK) for w in text.split()][: SEQ_LEN - 2]
        tokens = [CLS, *words, SEP]
        ids[row, : len(tokens)] = tokens
        mask[row, : len(tokens)] = 1
    return TextTask(vocab, texts, ids, mask, np.array(labels, dtype=np.int64))


def save_tokenizer(vocab: list[str], path: Path) -> Path:
    from tokenizers import Tokenizer, models, pre_tokenizers, processors

    tokenizer = Tokenizer(models.WordLevel({w: i for i, w in enumerate(vocab)}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", CLS), ("[SEP]", SEP)]
    )
    tokenizer.add_special_tokens(list(SPECIALS))
    tokenizer.enable_truncation(max_length=SEQ_LEN)
    tokenizer.enable_padding(length=SEQ_LEN, pad_id=PAD, pad_token="[PAD]")
    tokenizer.save(str(path))
    return path


class Classifier(torch.nn.Module):
    """``(input_ids, attention_mask) -> logits``: the exported signature."""

    def __init__(self, kind: str, vocab_size: int) -> None:
        super().__init__()
        import transformers

        if kind == "bert":
            config = transformers.BertConfig(
                vocab_size=vocab_size, hidden_size=32, num_hidden_layers=2,
                num_attention_heads=2, intermediate_size=64, max_position_embeddings=SEQ_LEN,
                num_labels=2, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
            )  # fmt: skip
            self.net = transformers.BertForSequenceClassification(config)
        else:
            config = transformers.DistilBertConfig(
                vocab_size=vocab_size, dim=32, n_layers=2, n_heads=2, hidden_dim=64,
                max_position_embeddings=SEQ_LEN, num_labels=2, dropout=0.0,
                attention_dropout=0.0, seq_classif_dropout=0.0,
            )  # fmt: skip
            self.net = transformers.DistilBertForSequenceClassification(config)
        self.net.config._attn_implementation = "eager"

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.net(input_ids=input_ids, attention_mask=attention_mask).logits


def train(kind: str, task: TextTask, steps: int = 120) -> Classifier:
    torch.manual_seed(0)
    model = Classifier(kind, len(task.vocab))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    ids, mask = torch.from_numpy(task.input_ids), torch.from_numpy(task.attention_mask)
    y = torch.from_numpy(task.y)
    rng = np.random.default_rng(1)
    model.train()
    for _ in range(steps):
        rows = torch.from_numpy(rng.choice(len(y), size=32, replace=False))
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(ids[rows], mask[rows]), y[rows])
        loss.backward()
        opt.step()
    return model.eval()


def export_onnx(model: Classifier, task: TextTask, path: Path, *, dynamo: bool) -> Path:
    example = (torch.from_numpy(task.input_ids[:2]), torch.from_numpy(task.attention_mask[:2]))
    names = {"input_names": ["input_ids", "attention_mask"], "output_names": ["logits"]}
    if dynamo:
        batch = torch.export.Dim("batch")
        torch.onnx.export(
            model, example, str(path), dynamo=True, external_data=False, **names,
            dynamic_shapes=({0: batch}, {0: batch}),
        )  # fmt: skip
    else:
        axes = {"input_ids": {0: "batch"}, "attention_mask": {0: "batch"}, "logits": {0: "batch"}}
        torch.onnx.export(
            model, example, str(path), dynamo=False, opset_version=17, dynamic_axes=axes, **names
        )
    return path


def export_torchscript(model: Classifier, task: TextTask, path: Path) -> Path:
    example = (torch.from_numpy(task.input_ids[:2]), torch.from_numpy(task.attention_mask[:2]))
    with torch.no_grad():
        torch.jit.save(torch.jit.trace(model, example, check_trace=False), str(path))
    return path


def export_pt2(model: Classifier, task: TextTask, path: Path) -> Path:
    example = (torch.from_numpy(task.input_ids[:2]), torch.from_numpy(task.attention_mask[:2]))
    batch = torch.export.Dim("batch")
    program = torch.export.export(model, example, dynamic_shapes=({0: batch}, {0: batch}))
    torch.export.save(program, str(path))
    return path
