"""Hostile ``.npy`` files and array contents; ``.npz`` archives have their own tests."""

from __future__ import annotations

import numpy as np
import pytest

from robustcheck.data import load_dataset
from robustcheck.errors import DataError


def _refused(path, match: str, **kwargs) -> DataError:
    with pytest.raises(DataError, match=match) as err:
        load_dataset(path, **kwargs)
    assert str(path) in str(err.value)
    assert "\n" not in err.value.one_line()
    return err.value


def test_object_arrays_are_refused_without_unpickling(tmp_path, make):
    path = make.save_npy(tmp_path / "x.npy", np.array([[{"a": 1}], [None]], dtype=object))
    _refused(path, "Python objects")


@pytest.mark.parametrize(
    ("array", "what"),
    [
        (np.ones((2, 2), np.complex64), "complex"),
        (np.ones((2, 2), bool), "booleans"),
        (np.array([["a", "b"], ["c", "d"]]), "strings"),
        (np.array([[b"a"], [b"b"]]), "byte strings"),
        (np.zeros((2, 2), "datetime64[s]"), "datetimes"),
        (np.zeros((2, 2), "timedelta64[s]"), "timedeltas"),
        (np.zeros((2, 2), [("a", "<f4"), ("b", "<i4")]), "structured"),
        (np.zeros((2, 2), np.longdouble), "wider than 8 bytes"),
    ],
)
def test_non_numeric_dtypes_are_refused(tmp_path, make, array, what):
    for suffix in ("npy", "npz"):
        path = tmp_path / f"x.{suffix}"
        if suffix == "npy":
            make.save_npy(path, array)
        else:
            np.savez(path, x=array)
        _refused(path, what)


def test_a_huge_declared_shape_is_refused_before_allocation(tmp_path, make):
    path = tmp_path / "x.npy"
    path.write_bytes(make.npy_bytes("<f4", (10**9, 3, 224, 224)))
    _refused(path, "bytes of data; the limit is")


def test_declared_size_overflowing_int64_is_still_caught(tmp_path, make):
    path = tmp_path / "x.npy"
    path.write_bytes(make.npy_bytes("<f8", (2**62, 2**62)))
    _refused(path, "limit")


def test_a_truncated_file_is_refused(tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, np.ones((100, 8), np.float32))
    path.write_bytes(path.read_bytes()[:-7])
    _refused(path, "truncated")


def test_trailing_bytes_are_refused(tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, np.ones((10, 8), np.float32))
    path.write_bytes(path.read_bytes() + b"extra")
    _refused(path, "5 unexpected bytes")


def test_headers_with_negative_or_malformed_shapes_are_refused(tmp_path, make):
    path = tmp_path / "x.npy"
    path.write_bytes(make.npy_bytes("<f4", (-1, 4)))
    _refused(path, "shape")
    path.write_bytes(make.npy_bytes("<f4", (1,) * 70))
    _refused(path, "malformed .npy header")
    npz = make.zip_members(
        tmp_path / "x.npz", {"x.npy": make.npy_bytes("<f4", (1,) * 70, b"\0" * 4)}
    )
    _refused(npz, "malformed .npy header")
    path.write_bytes(b"\x93NUMPY\x01\x00\x10\x00{'descr': 1}    \n")
    _refused(path, "malformed .npy header")


def test_unsupported_versions_and_non_npy_files_are_refused(tmp_path, make):
    path = tmp_path / "x.npy"
    path.write_bytes(make.npy_bytes("<f4", (1, 1), b"\0" * 4, version=(3, 0)))
    _refused(path, "version 3.0")
    path.write_bytes(b"just some text")
    _refused(path, "not a NumPy .npy array")
    path.write_bytes(b"")
    _refused(path, "not a NumPy .npy array")


def test_fortran_order_npy_cannot_be_streamed(tmp_path):
    path = tmp_path / "x.npy"
    np.save(path, np.asfortranarray(np.ones((4, 3), np.float32)))
    _refused(path, "Fortran order")


def test_per_sample_size_is_capped(tmp_path, small_caps):
    small_caps("MAX_SAMPLE_BYTES", 16)
    path = tmp_path / "x.npy"
    np.save(path, np.ones((4, 8), np.float32))
    _refused(path, "samples of 32 bytes each; the limit is 16")


def test_mmap_cap_is_a_constant_that_can_be_lowered(tmp_path, small_caps):
    small_caps("MAX_MMAP_BYTES", 100)
    path = tmp_path / "x.npy"
    np.save(path, np.ones((4, 8), np.float32))
    _refused(path, "declares 128 bytes of data; the limit is 100")


@pytest.mark.parametrize("shape", [(5,), (0, 3), (3, 0)])
def test_shapes_without_samples_are_refused(tmp_path, shape):
    path = tmp_path / "x.npy"
    np.save(path, np.ones(shape, np.float32))
    _refused(path, "shape|no samples|empty samples")


@pytest.mark.parametrize("suffix", ["npy", "npz"])
def test_nan_and_inf_are_counted_per_sample(tmp_path, suffix):
    x = np.zeros((50, 2, 4), np.float32)
    x[3, 0, 0] = np.nan
    x[3, 1, 1] = np.inf
    x[10, 1, 3] = -np.inf
    x[49, 0, 2] = np.nan
    path = tmp_path / f"x.{suffix}"
    np.save(path, x) if suffix == "npy" else np.savez(path, x=x)
    _refused(path, "NaN or Inf values in 3 of 50 samples")


def test_nan_is_found_across_scan_chunks(tmp_path, monkeypatch):
    from robustcheck.data import npy

    monkeypatch.setattr(npy, "_SCAN_BYTES", 64)
    x = np.zeros((100, 4), np.float32)
    x[[0, 37, 99], 2] = np.nan
    np.save(tmp_path / "x.npy", x)
    _refused(tmp_path / "x.npy", "in 3 of 100 samples")
    np.save(tmp_path / "x.npy", np.zeros((100, 4), np.float32))
    assert load_dataset(tmp_path / "x.npy").n_samples == 100


def test_missing_files_and_directories_are_data_errors(tmp_path):
    _refused(tmp_path / "none.npy", "no such data file")
    (tmp_path / "dir.npy").mkdir()
    with pytest.raises(DataError, match="reads a file"):
        load_dataset(tmp_path / "dir.npy", data_format="npy")
