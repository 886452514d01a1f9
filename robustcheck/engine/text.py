"""Preparing a text model's scan: token data becomes the packed embedding leaf.

Before anything is attacked, the tail that will score adversarial embeddings on the deployed
runtime must agree with the full deployed graph on the clean token ids (within
:data:`TAIL_TOLERANCE` in probability): otherwise the split point is wrong and nothing measured
through it would describe the model.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import cast

import numpy as np
import torch

from robustcheck.backends.base import Backend, TextBackend
from robustcheck.backends.output import detect_output_kind, to_probabilities
from robustcheck.data import Dataset
from robustcheck.data.base import SampleSource
from robustcheck.data.text import FORMAT as TEXT
from robustcheck.data.tokens import FORMAT as TOKENS
from robustcheck.errors import DataError, ModelError, UsageError, quoted
from robustcheck.reports.model import EmbeddingSection
from robustcheck.text.layout import SIDE_CHANNELS, EmbeddingLeaf, Substitutions

TAIL_TOLERANCE = 1e-5
_CHECK_SAMPLES = 64


@dataclass(frozen=True)
class EmbeddedSource:
    """Token samples read as the packed embedding leaf, batch by batch."""

    tokens: SampleSource
    backend: TextBackend
    hidden: int

    @property
    def n(self) -> int:
        return self.tokens.n

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return (self.tokens.sample_shape[0], self.hidden + len(SIDE_CHANNELS))

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.float32)

    def read(self, indices: np.ndarray) -> np.ndarray:
        return np.asarray(self.backend.embed(self.tokens.read(indices)), dtype=np.float32)


def text_data_format(backend: Backend, declared: str | None, suffix: str) -> str | None:
    """The data loader a text model's data needs unless one is named: ``.npz`` holds tokens."""
    if backend.info.embedding is None or declared is not None:
        return declared
    if suffix.lower() == ".npz":
        return TOKENS
    return TEXT if suffix.lower() in (".jsonl", ".csv", ".tsv") else None


@dataclass(frozen=True)
class TextScan:
    """What a text model's scan adds to the plan and the report."""

    notes: list[str]
    substitutions: Substitutions | None
    vocabulary: tuple[str, ...] | None
    embedding: EmbeddingSection
    """The report's ``input.embedding``: the table, its spread and ε relative to it."""


def text_scan(
    backend: Backend, dataset: Dataset, eps: list[float], tokens: list[int] | None
) -> tuple[Dataset, TextScan | None]:
    """For a text model: the dataset as packed embeddings and what the scan adds; other models
    keep their dataset (and may not ask for token budgets)."""
    leaf = backend.info.embedding
    if leaf is None:
        substitutions_for(backend, dataset, tokens)  # refuses --tokens
        return dataset, None
    dataset, notes = prepare_text(backend, dataset, eps)
    substitutions = substitutions_for(backend, dataset, tokens)
    section = embedding_section(leaf, eps)
    return dataset, TextScan(notes, substitutions, token_vocabulary(dataset), section)


def prepare_text(backend: Backend, dataset: Dataset, eps: list[float]) -> tuple[Dataset, list[str]]:
    """The dataset as packed embeddings, and what the report says about the leaf and ε."""
    leaf = backend.info.embedding
    assert leaf is not None
    shape = dataset.sample_shape
    if len(shape) != 2 or shape[1] != len(SIDE_CHANNELS) or dataset.source.dtype.kind not in "iu":
        raise DataError(
            f"{dataset.path}: {backend.info.path} is a text model (integer inputs "
            f"{quoted(leaf.inputs)}): it needs token data (a .npz with input_ids and "
            "attention_mask, or text with --tokenizer)"
        )
    text = cast(TextBackend, backend)
    gap = _tail_gap(text, dataset)
    embedded = replace(dataset, source=EmbeddedSource(dataset.source, text, leaf.hidden))
    return embedded, [*describe_leaf(leaf, eps), _tail_note(gap)]


def embedding_section(leaf: EmbeddingLeaf, eps: list[float]) -> EmbeddingSection:
    """The report's structured statement of what ε means for a text model."""
    return EmbeddingSection(
        table=leaf.table,
        vocab_size=leaf.vocab_size,
        hidden=leaf.hidden,
        spread=leaf.spread,
        eps_relative=[e / leaf.spread for e in eps] if leaf.spread else None,
    )


def describe_leaf(leaf: EmbeddingLeaf, eps: list[float]) -> list[str]:
    relative = ", ".join(f"{e:g} = {e / leaf.spread:.3g}×" for e in eps) if leaf.spread else "n/a"
    return [
        f"text: ε is an L∞ budget on the word embeddings ({leaf.table!r}, {leaf.vocab_size} × "
        f"{leaf.hidden}); padding and special tokens are never perturbed; relative to the "
        f"table's median per-dimension std {leaf.spread:.4g}: ε {relative}"
    ]


def _tail_gap(backend: TextBackend, dataset: Dataset) -> float:
    """Largest probability difference between the tail on embeddings and the full graph on
    token ids, over the first samples."""
    batch = next(dataset.batches(_CHECK_SAMPLES))
    full = backend.token_scores(batch.x).numpy()
    packed = torch.from_numpy(np.asarray(backend.embed(batch.x), np.float32)).to(backend.device)
    tail = backend.scores(packed).cpu().numpy()
    kind = detect_output_kind(full)
    gap = float(np.max(np.abs(to_probabilities(full, kind) - to_probabilities(tail, kind))))
    if not gap <= TAIL_TOLERANCE:
        raise ModelError(
            f"{backend.info.path}: the graph after the word-embedding lookup disagrees with the "
            f"full graph on clean inputs (max |Δp| {gap:.3g} > {TAIL_TOLERANCE:g}): cannot "
            "attack the embeddings of this model"
        )
    return gap


def _tail_note(gap: float) -> str:
    return (
        "text: the deployed graph's tail (from the embedding lookup on) agrees with the full "
        f"graph on clean inputs: max |Δp| {gap:.2g}"
    )


def substitutions_for(
    backend: Backend, dataset: Dataset, tokens: list[int] | None
) -> Substitutions | None:
    """What token-substitution attacks may swap in: every table row but the special tokens
    (and, with a tokenizer's vocabulary, only word pieces of the replaced token's case and
    kind)."""
    if not tokens:
        return None
    if backend.info.embedding is None:
        raise UsageError(
            f"--tokens: {backend.info.path} is not a text model (no integer token-id input): "
            "token substitutions need one"
        )
    table = torch.from_numpy(np.asarray(cast(TextBackend, backend).table, np.float64))
    source = dataset.source.tokens if isinstance(dataset.source, EmbeddedSource) else None
    special = getattr(source, "special_ids", ())
    vocabulary = getattr(source, "vocabulary", None)
    allowed = torch.ones(table.shape[0], dtype=torch.bool)
    allowed[[i for i in special if 0 <= i < table.shape[0]]] = False
    classes = None
    if vocabulary is not None:
        allowed &= torch.tensor(
            [_is_word(v) for v in vocabulary] + [False] * (table.shape[0] - len(vocabulary))
        )[: table.shape[0]]
        classes = torch.tensor(
            [token_class(v) for v in vocabulary] + [0] * (table.shape[0] - len(vocabulary)),
            dtype=torch.int8,
        )[: table.shape[0]]
    device = backend.device
    return Substitutions(
        table.to(device),
        allowed.to(device),
        None if classes is None else classes.to(device),
    )


def token_vocabulary(dataset: Dataset) -> tuple[str, ...] | None:
    """Token strings by id, when the data came with a tokenizer."""
    source = dataset.source.tokens if isinstance(dataset.source, EmbeddedSource) else None
    return getattr(source, "vocabulary", None)


def _is_word(token: str) -> bool:
    """A word piece someone could type (not ``[CLS]``/``<s>``-style markup, not empty)."""
    return bool(token) and not (token[0] in "[<" and token[-1] in "]>")


_PIECE_MARKS = (("##", 1), ("Ġ", 2), ("▁", 2))
"""WordPiece continuations, and byte-level BPE / SentencePiece word starts."""


def token_class(token: str) -> int:
    """Case (lower, none, upper) and piece kind in one number: swaps keep both, so a capitalised
    word stays capitalised and a ``##`` continuation stays one."""
    kind, word = next(
        ((k, token[len(mark) :]) for mark, k in _PIECE_MARKS if token.startswith(mark)), (0, token)
    )
    letters = [c for c in word if c.isalpha()]
    case = 0 if not letters else (2 if letters[0].isupper() else 1)
    return 3 * kind + case
