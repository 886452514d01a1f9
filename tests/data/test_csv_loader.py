from __future__ import annotations

import numpy as np
import pytest

from robustcheck.data import load_dataset
from robustcheck.errors import DataError, UsageError

TABLE = "age,income,label,height\n30,1.5e3,1,170\n41,-2,0,180.5\n\n19,0.25,2,165\n"


def _table(tmp_path, text: str = TABLE, name: str = "t.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def _refused(path, match: str, **kwargs) -> None:
    with pytest.raises(DataError, match=match) as err:
        load_dataset(path, **kwargs)
    assert str(path) in str(err.value)


def test_all_other_columns_are_features_by_default(tmp_path):
    dataset = load_dataset(_table(tmp_path))
    assert dataset.format == "csv" and dataset.sample_shape == (3,)
    x = dataset.source.read(np.arange(3))
    assert x.dtype == np.float32
    np.testing.assert_array_equal(x, [[30, 1500, 170], [41, -2, 180.5], [19, 0.25, 165]])
    assert dataset.y.tolist() == [1, 0, 2]
    assert dataset.x_key == "age, income, height" and dataset.y_key == "label"


def test_label_column_and_feature_subset(tmp_path):
    path = _table(tmp_path)
    dataset = load_dataset(path, label_column="age", feature_columns=["height", "label"])
    np.testing.assert_array_equal(
        dataset.source.read(np.arange(3)), [[170, 1], [180.5, 0], [165, 2]]
    )
    assert dataset.y.tolist() == [30, 41, 19]


def test_tsv_and_a_byte_order_mark(tmp_path):
    path = tmp_path / "t.tsv"
    path.write_bytes("\ufeffa\tlabel\n1\t0\n2\t1.0\n".encode())
    dataset = load_dataset(path)
    assert dataset.source.read(np.arange(2)).ravel().tolist() == [1.0, 2.0]
    assert dataset.y.tolist() == [0, 1]


def test_missing_label_column_lists_the_columns(tmp_path):
    path = _table(tmp_path, "a,b\n1,2\n")
    _refused(path, r"no label column 'label' \(columns: a, b\)")
    _refused(path, "no label column 'target'", label_column="target")


def test_missing_feature_column(tmp_path):
    _refused(_table(tmp_path), "no feature column 'weight'", feature_columns=["age", "weight"])
    _refused(_table(tmp_path), "also listed as a feature", feature_columns=["label"])


def test_a_non_numeric_cell_names_row_and_column(tmp_path):
    path = _table(tmp_path, "a,b,label\n1,2,0\n3,four,1\n")
    _refused(path, r"row 3, column 'b': 'four' is not a number")


def test_a_non_integer_label_names_row_and_column(tmp_path):
    _refused(_table(tmp_path, "a,label\n1,0\n2,cat\n"), r"row 3, column 'label': 'cat'")
    _refused(_table(tmp_path, "a,label\n1,0\n2,-1\n"), "row 3.*out of range")


@pytest.mark.parametrize("cell", ["nan", "inf", "-Infinity", "1e39"])
def test_non_finite_features_are_counted(tmp_path, cell):
    path = _table(tmp_path, f"a,b,label\n1,2,0\n{cell},1,1\n3,{cell},0\n")
    _refused(path, "NaN or Inf values in 2 of 3 samples")


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "empty"),
        ("a,label\n", "no samples"),
        ("a,label\n1,0,5\n", "row 2 has 3 cells"),
        ("a,a,label\n1,2,0\n", "repeats column 'a'"),
        ("1,2,0\n3,4,1\n", "a header row is required"),
        ('a,label\n"1,0\n', "malformed CSV"),
        ("a,label\n1_000,0\n", "not a number"),
        ("label\n1\n", "no features"),
    ],
)
def test_malformed_tables(tmp_path, text, match):
    _refused(_table(tmp_path, text), match)


def test_binary_junk_is_not_utf8(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes(b"a,label\n\xff\xfe,0\n")
    _refused(path, "not UTF-8")


def test_tables_are_size_capped(tmp_path, small_caps):
    small_caps("MAX_TEXT_FILE_BYTES", 10)
    _refused(_table(tmp_path), "the limit is 10")


def test_npz_options_are_refused_for_tables(tmp_path):
    with pytest.raises(UsageError, match="--y-key"):
        load_dataset(_table(tmp_path), y_key="target")
