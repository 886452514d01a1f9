"""Pre-tokenized text in a ``.npz``: ``input_ids``, ``attention_mask``, optional
``token_type_ids`` and ``special_ids``, and labels ``y``.

Every sample becomes ``[L, 4]`` integers: token id, attention mask, token type and *pinned*
(padding or a special token: never perturbed). The scan turns them into the packed embedding
leaf of :mod:`robustcheck.text.layout` once it knows the model's embedding table.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from robustcheck.data._checks import check_labels
from robustcheck.data.base import ArraySource, Dataset
from robustcheck.data.npz import open_npz
from robustcheck.data.options import LoadOptions
from robustcheck.data.registry import loader
from robustcheck.data.tokenizer import read_tokenizer, special_ids, vocabulary
from robustcheck.errors import DataError, quoted

IDS_KEY, MASK_KEY, TYPES_KEY, SPECIAL_KEY = (
    "input_ids",
    "attention_mask",
    "token_type_ids",
    "special_ids",
)
FORMAT = "tokens"


@dataclass(frozen=True)
class TokenSource(ArraySource):
    """``[N, L, 4]`` token channels, with what is known about the vocabulary."""

    special_ids: tuple[int, ...] = ()
    vocabulary: tuple[str, ...] | None = None
    """Token strings by id, when a tokenizer gave them (for decoding and same-case swaps)."""


def pack_tokens(
    ids: np.ndarray, mask: np.ndarray, types: np.ndarray | None, special: np.ndarray
) -> np.ndarray:
    """``[N, L]`` token arrays → ``[N, L, 4]`` int64 (id, mask, type, pinned)."""
    types = np.zeros_like(ids) if types is None else types
    pinned = (mask == 0) | np.isin(ids, special)
    return np.stack([ids, mask, types, pinned], axis=-1).astype(np.int64)


def token_notes(special: np.ndarray, seq_len: int, source: str) -> tuple[str, ...]:
    """What the report says about how the text was prepared."""
    notes = [f"text: sequences of {seq_len} tokens ({source})"]
    if special.size == 0:
        notes.append(
            "text: no special token ids are known (add a 'special_ids' array or use a "
            "tokenizer): only padding is kept out of the perturbation"
        )
    return tuple(notes)


@loader(
    "tokens",
    options=frozenset({"y_key", "tokenizer"}),
    description="pre-tokenized text (.npz: input_ids, attention_mask, optional "
    "token_type_ids and special_ids, labels y); chosen for text models",
)
def load_tokens(path: Path, options: LoadOptions) -> Dataset:
    with open_npz(path) as npz:
        members, sha256 = npz.members, npz.sha256
        arrays = {
            name: npz.read(name)
            for name in (IDS_KEY, MASK_KEY, TYPES_KEY, SPECIAL_KEY, options.y_key or "y")
            if name in members
        }
    if IDS_KEY not in arrays:
        raise DataError(
            f"{path}: no array named {IDS_KEY!r} (found: {quoted(sorted(members)) or 'none'}); "
            "pre-tokenized text needs input_ids and attention_mask"
        )
    ids = _token_array(path, IDS_KEY, arrays[IDS_KEY], None)
    mask = _token_array(path, MASK_KEY, arrays.get(MASK_KEY, np.ones_like(ids)), ids.shape)
    types = arrays.get(TYPES_KEY)
    if types is not None:
        types = _token_array(path, TYPES_KEY, types, ids.shape)
    special = np.asarray(arrays.get(SPECIAL_KEY, np.zeros(0, np.int64))).reshape(-1)
    vocab = None
    if options.tokenizer is not None:  # its special tokens and vocabulary, for decoding
        tokenizer = read_tokenizer(options.tokenizer)
        special = np.union1d(special, special_ids(tokenizer)).astype(np.int64)
        vocab = vocabulary(tokenizer)
    y_key = options.y_key or "y"
    if options.y_key is not None and y_key not in arrays:
        raise DataError(f"{path}: no label array named {y_key!r}")
    y = (
        None
        if y_key not in arrays
        else check_labels(f"{path}: labels {y_key!r}", arrays[y_key], len(ids))
    )
    notes = token_notes(special, ids.shape[1], "pre-tokenized .npz, as given")
    return Dataset(
        path=str(path),
        format=FORMAT,
        sha256=sha256,
        source=TokenSource(
            pack_tokens(ids, mask, types, special),
            special_ids=tuple(int(i) for i in special),
            vocabulary=vocab,
        ),
        y=y,
        x_key=IDS_KEY,
        y_key=y_key if y is not None else None,
        notes=notes,
    )


def _token_array(
    path: Path, key: str, array: np.ndarray, shape: tuple[int, ...] | None
) -> np.ndarray:
    if array.dtype.kind not in "iub" or array.ndim != 2 or (shape and array.shape != shape):
        want = "[N, L]" if shape is None else f"{list(shape)} like {IDS_KEY!r}"
        raise DataError(
            f"{path}: array {key!r} must hold integers of shape {want} "
            f"(has {array.dtype} {list(array.shape)})"
        )
    if array.size and int(array.min()) < 0:
        raise DataError(f"{path}: array {key!r} holds negative values")
    return array.astype(np.int64)
