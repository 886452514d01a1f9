from __future__ import annotations

import hashlib

import numpy as np
import pytest

from robustcheck.data import load_dataset
from robustcheck.data.npy import MappedArraySource
from robustcheck.errors import DataError, UsageError


def _x(n: int = 12, dtype=np.float32) -> np.ndarray:
    return (np.arange(n * 1 * 2 * 3) % 251).reshape(n, 1, 2, 3).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float16, np.uint8, np.int64])
def test_inputs_are_memory_mapped_not_read(tmp_path, dtype):
    x = _x(dtype=dtype)
    np.save(tmp_path / "x.npy", x)
    dataset = load_dataset(tmp_path / "x.npy")
    assert isinstance(dataset.source, MappedArraySource)
    assert isinstance(dataset.source.array, np.memmap)
    assert dataset.source.array.mode == "r"
    assert dataset.format == "npy" and dataset.y is None and dataset.sample_shape == (1, 2, 3)
    batches = list(dataset.batches(5))
    assert [b.x.shape[0] for b in batches] == [5, 5, 2]
    np.testing.assert_array_equal(np.concatenate([b.x for b in batches]), x)
    assert batches[0].x.dtype == dtype


def test_batches_are_copies_that_outlive_the_mapping(tmp_path):
    np.save(tmp_path / "x.npy", _x())
    dataset = load_dataset(tmp_path / "x.npy")
    batch = next(dataset.batches(4))
    assert not isinstance(batch.x, np.memmap)
    assert batch.x.flags.owndata and batch.x.flags.writeable


def test_scattered_selections_read_the_right_rows(tmp_path):
    x = _x(20)
    np.save(tmp_path / "x.npy", x)
    dataset = load_dataset(tmp_path / "x.npy").select(np.array([17, 2, 9]))
    (batch,) = dataset.batches(8)
    np.testing.assert_array_equal(batch.x, x[[2, 9, 17]])
    assert batch.indices.tolist() == [2, 9, 17]


def test_sha256_is_the_files_own_without_labels(tmp_path):
    np.save(tmp_path / "x.npy", _x())
    expected = hashlib.sha256((tmp_path / "x.npy").read_bytes()).hexdigest()
    assert load_dataset(tmp_path / "x.npy").sha256 == expected


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("y.npy", None),
        ("y.txt", "0\n1\n2\n0\n1\n2\n0\n1\n2\n0\n1\n2\n"),
        ("y.csv", "label\n0\n1\n2\n0\n1\n2\n0\n1\n2\n0\n1\n2\n"),
        ("y.csv", "0\n1\n2\n0\n1\n2\n0\n1\n2\n0\n1\n2"),
        ("y.csv", "id,label\n" + "".join(f"{i},{i % 3}\n" for i in range(12))),
        ("y.tsv", "id\tlabel\n" + "".join(f"{i}\t{i % 3}.0\n" for i in range(12))),
    ],
)
def test_labels_file_forms(tmp_path, name, content):
    np.save(tmp_path / "x.npy", _x())
    labels = tmp_path / name
    if content is None:
        np.save(labels, np.arange(12) % 3)
    else:
        labels.write_text(content)
    dataset = load_dataset(tmp_path / "x.npy", labels_file=labels)
    assert dataset.y.tolist() == [i % 3 for i in range(12)]
    assert dataset.y_key == str(labels)
    assert dataset.sha256 != load_dataset(tmp_path / "x.npy").sha256


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("0\n1\n", r"expected \[12\]"),
        ("0\n" * 11 + "x\n", "line 12: 'x' is not an integer"),
        ("0\n" * 11 + "1.5\n", "line 12: '1.5' is not an integer"),
        ("0\n" * 11 + "-1\n", "line 12: class index -1 is outside"),
        ("0\n" * 13, "line 13: more labels than the 12 samples"),
    ],
)
def test_bad_text_labels_name_the_file_and_line(tmp_path, content, match):
    np.save(tmp_path / "x.npy", _x())
    (tmp_path / "y.txt").write_text(content)
    with pytest.raises(DataError, match=match) as err:
        load_dataset(tmp_path / "x.npy", labels_file=tmp_path / "y.txt")
    assert str(tmp_path / "y.txt") in str(err.value)


@pytest.mark.parametrize(
    ("labels", "match"),
    [
        (np.zeros((12, 1), np.int64), "shape"),
        (np.arange(12) - 1, "negative"),
        (np.full(12, 0.5), "non-integer"),
        (np.ones(12, bool), "booleans"),
        (np.array(["a"] * 12), "strings"),
        (np.full(12, 2**40), "above"),
    ],
)
def test_bad_npy_labels_are_refused(tmp_path, labels, match):
    np.save(tmp_path / "x.npy", _x())
    np.save(tmp_path / "y.npy", labels)
    with pytest.raises(DataError, match=match) as err:
        load_dataset(tmp_path / "x.npy", labels_file=tmp_path / "y.npy")
    assert str(tmp_path / "y.npy") in str(err.value)


def test_labels_csv_with_several_columns_needs_a_label_header(tmp_path):
    np.save(tmp_path / "x.npy", _x())
    (tmp_path / "y.csv").write_text("a,b\n" + "1,2\n" * 12)
    with pytest.raises(DataError, match="none named 'label'"):
        load_dataset(tmp_path / "x.npy", labels_file=tmp_path / "y.csv")


def test_unknown_labels_file_type_is_refused(tmp_path):
    np.save(tmp_path / "x.npy", _x())
    (tmp_path / "y.json").write_text("[]")
    with pytest.raises(DataError, match="unsupported labels file type"):
        load_dataset(tmp_path / "x.npy", labels_file=tmp_path / "y.json")


def test_x_key_does_not_apply_to_npy(tmp_path):
    np.save(tmp_path / "x.npy", _x())
    with pytest.raises(UsageError, match="--x-key: not used by the npy data format"):
        load_dataset(tmp_path / "x.npy", x_key="inputs")
