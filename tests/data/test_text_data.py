"""Text data: pre-tokenized .npz and JSONL/CSV tokenized with a tokenizer.json."""

from __future__ import annotations

import csv
import json

import _textmodels as tm
import numpy as np
import pytest

from robustcheck.data import load_dataset
from robustcheck.errors import DataError, UsageError


def _write_jsonl(path, task, field="text"):
    with path.open("w") as handle:
        for text, label in zip(task.texts, task.y, strict=True):
            handle.write(json.dumps({field: text, "label": int(label)}) + "\n")
    return path


def test_tokenized_text_matches_the_task_s_own_token_ids(text_zoo, tmp_path):
    task = text_zoo.test
    dataset = load_dataset(
        _write_jsonl(tmp_path / "test.jsonl", task),
        data_format="text",
        tokenizer=text_zoo.tokenizer,
    )
    (batch,) = list(dataset.batches(len(task.y)))
    assert np.array_equal(batch.x[..., 0], task.input_ids)
    assert np.array_equal(batch.x[..., 1], task.attention_mask)
    pinned = (task.attention_mask == 0) | (task.input_ids < len(tm.SPECIALS))
    assert np.array_equal(batch.x[..., 3] == 1, pinned)
    assert np.array_equal(batch.y, task.y)
    assert dataset.source.vocabulary[: len(tm.SPECIALS)] == tm.SPECIALS
    assert any("truncated to 16, padded to 16" in note for note in dataset.notes)


def test_csv_with_a_named_text_column(text_zoo, tmp_path):
    task = text_zoo.test
    path = tmp_path / "test.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["sentence", "label"])
        writer.writerows(zip(task.texts, task.y.tolist(), strict=True))
    dataset = load_dataset(
        path, data_format="text", tokenizer=text_zoo.tokenizer, text_column="sentence"
    )
    (batch,) = list(dataset.batches(len(task.y)))
    assert np.array_equal(batch.x[..., 0], task.input_ids)


def test_text_without_a_tokenizer_is_a_usage_error(text_zoo, tmp_path):
    path = _write_jsonl(tmp_path / "test.jsonl", text_zoo.test)
    with pytest.raises(UsageError, match="--tokenizer"):
        load_dataset(path, data_format="text")


def test_a_missing_column_is_named(text_zoo, tmp_path):
    path = _write_jsonl(tmp_path / "test.jsonl", text_zoo.test, field="body")
    with pytest.raises(DataError, match="record 1 has no 'text'"):
        load_dataset(path, data_format="text", tokenizer=text_zoo.tokenizer)


def test_token_npz_pins_padding_and_special_ids(text_zoo):
    dataset = load_dataset(text_zoo.tokens_npz, data_format="tokens")
    (batch,) = list(dataset.batches(dataset.n_samples))
    task = text_zoo.test
    assert batch.x.shape == (len(task.y), tm.SEQ_LEN, 4)
    pinned = (task.attention_mask == 0) | (task.input_ids < len(tm.SPECIALS))
    assert np.array_equal(batch.x[..., 3] == 1, pinned)


def test_token_npz_needs_input_ids_of_matching_shapes(tmp_path):
    np.savez(tmp_path / "a.npz", x=np.zeros((2, 3)))
    with pytest.raises(DataError, match="no array named 'input_ids'"):
        load_dataset(tmp_path / "a.npz", data_format="tokens")
    np.savez(
        tmp_path / "b.npz", input_ids=np.zeros((2, 3), int), attention_mask=np.ones((2, 4), int)
    )
    with pytest.raises(DataError, match="'attention_mask' must hold integers of shape"):
        load_dataset(tmp_path / "b.npz", data_format="tokens")
