"""Text with labels (JSON Lines or CSV/TSV: a text column and a label column), tokenized with
the model's ``tokenizer.json`` (the ``tokenizers`` library: ``pip install 'robustcheck-gate[text]'``).

Sequence length, truncation and padding follow the tokenizer's own settings; without a fixed
padding length texts are padded to the longest one. What was done is recorded in the report.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from robustcheck.data import limits
from robustcheck.data._checks import check_labels
from robustcheck.data.base import Dataset
from robustcheck.data.labels import parse_int
from robustcheck.data.options import LoadOptions
from robustcheck.data.registry import loader
from robustcheck.data.tokenizer import read_tokenizer, special_ids, vocabulary
from robustcheck.data.tokens import TokenSource, pack_tokens, token_notes
from robustcheck.errors import DataError, UsageError
from robustcheck.files import decode_text, read_capped, sha256_bytes

FORMAT = "text"
DEFAULT_TEXT_COLUMN = "text"
DEFAULT_LABEL_COLUMN = "label"


@loader(
    "text",
    options=frozenset({"tokenizer", "text_column", "label_column"}),
    description="text with labels (.jsonl, .csv or .tsv: text and label columns), "
    "tokenized with --tokenizer tokenizer.json; chosen for text models",
)
def load_text(path: Path, options: LoadOptions) -> Dataset:
    if options.tokenizer is None:
        raise UsageError(
            f"{path}: text data needs the model's tokenizer: pass --tokenizer tokenizer.json"
        )
    tokenizer = read_tokenizer(options.tokenizer)
    data = read_capped(path, limits.MAX_TEXT_FILE_BYTES, "text file")
    text_column = options.text_column or DEFAULT_TEXT_COLUMN
    label_column = options.label_column or DEFAULT_LABEL_COLUMN
    rows = _records(path, decode_text(path, data))
    if not rows:
        raise DataError(f"{path}: no samples")
    texts, labels = [], []
    for number, record in rows:
        if text_column not in record or label_column not in record:
            raise DataError(
                f"{path}: record {number} has no {text_column!r} or {label_column!r} field",
                hint="name the columns with --text-column and --label-column",
            )
        texts.append(str(record[text_column]))
        labels.append(_label(path, number, record[label_column]))
    ids, mask, types, how = _encode(tokenizer, texts)
    special = special_ids(tokenizer)
    y = check_labels(f"{path}: labels {label_column!r}", np.array(labels, np.int64), len(labels))
    return Dataset(
        path=str(path),
        format=FORMAT,
        sha256=sha256_bytes(data),
        source=TokenSource(
            pack_tokens(ids, mask, types, special),
            special_ids=tuple(int(i) for i in special),
            vocabulary=vocabulary(tokenizer),
        ),
        y=y,
        x_key=text_column,
        y_key=label_column,
        notes=token_notes(special, ids.shape[1], f"{options.tokenizer.name}: {how}"),
    )


def decode(vocab: tuple[str, ...] | None, ids: np.ndarray, mask: np.ndarray) -> str:
    """The tokens of one text as a string (token ids when no vocabulary is known)."""
    kept = [int(i) for i, m in zip(ids, mask, strict=True) if m]
    if vocab is None:
        return " ".join(str(i) for i in kept)
    return " ".join(vocab[i] if i < len(vocab) else f"<{i}>" for i in kept)


def _encode(tokenizer: Any, texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    padding = tokenizer.padding
    truncation = tokenizer.truncation
    fixed = padding.get("length") if padding else None
    if fixed is None:  # pad every text to the longest, whatever the tokenizer says about padding
        longest = max(len(e.ids) for e in tokenizer.encode_batch(texts))
        pad_id = padding["pad_id"] if padding else 0
        pad_token = padding["pad_token"] if padding else "[PAD]"
        tokenizer.enable_padding(length=longest, pad_id=pad_id, pad_token=pad_token)
    encodings = tokenizer.encode_batch(texts)
    ids = np.array([e.ids for e in encodings], dtype=np.int64)
    mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
    types = np.array([e.type_ids for e in encodings], dtype=np.int64)
    cut = f"truncated to {truncation['max_length']}" if truncation else "no truncation"
    padded = f"padded to {fixed}" if fixed else f"padded to the longest text ({ids.shape[1]})"
    truncated = sum(bool(e.overflowing) for e in encodings)
    how = f"{cut}, {padded}; {truncated} texts truncated"
    return ids, mask, types, how


def _records(path: Path, text: str) -> list[tuple[int, dict[str, Any]]]:
    if path.suffix.lower() == ".jsonl":
        out = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}: line {number} is not JSON ({exc.msg})") from None
            if not isinstance(record, dict):
                raise DataError(f"{path}: line {number} is not a JSON object")
            out.append((number, record))
        return out
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    return [(number, dict(row)) for number, row in enumerate(reader, start=2)]


def _label(path: Path, number: int, value: Any) -> int:
    if isinstance(value, bool):
        raise DataError(f"{path}: record {number}: label {value!r} is not a class index")
    if isinstance(value, int):
        return value
    parsed = parse_int(str(value).strip())
    if parsed is None:
        raise DataError(f"{path}: record {number}: label {value!r} is not a class index")
    return parsed
