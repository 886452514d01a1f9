from __future__ import annotations

import zipfile

import numpy as np
import pytest

from robustcheck.data import ArraySource, load_dataset
from robustcheck.errors import DataError, SecurityRefusal, UsageError
from robustcheck.exit_codes import ExitCode


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint8, np.int16])
def test_inputs_and_labels_round_trip(tmp_path, dtype):
    x = (np.arange(5 * 2 * 3) % 200).reshape(5, 2, 3).astype(dtype)
    y = np.array([0, 1, 2, 1, 0])
    np.savez(tmp_path / "d.npz", x=x, y=y)
    dataset = load_dataset(tmp_path / "d.npz")
    assert dataset.format == "npz"
    assert isinstance(dataset.source, ArraySource)
    assert dataset.sample_shape == (2, 3)
    batch = next(dataset.batches(10))
    np.testing.assert_array_equal(batch.x, x)
    assert batch.x.dtype == dtype
    np.testing.assert_array_equal(batch.y, y)
    assert dataset.y_key == "y"


def test_compressed_archives_and_custom_keys(tmp_path):
    x = np.random.default_rng(0).random((4, 3)).astype(np.float32)
    np.savez_compressed(tmp_path / "d.npz", inputs=x, target=np.array([1.0, 0.0, 2.0, 1.0]))
    dataset = load_dataset(tmp_path / "d.npz", x_key="inputs", y_key="target")
    np.testing.assert_array_equal(dataset.source.read(np.arange(4)), x)
    assert dataset.y.dtype == np.int64 and dataset.y.tolist() == [1, 0, 2, 1]


def test_labels_are_optional(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.zeros((3, 2), np.float32))
    dataset = load_dataset(tmp_path / "d.npz")
    assert dataset.y is None and dataset.y_key is None


def test_fortran_order_members_are_read_correctly(tmp_path):
    x = np.asfortranarray(np.arange(24, dtype=np.float32).reshape(4, 6))
    np.savez(tmp_path / "d.npz", x=x)
    np.testing.assert_array_equal(load_dataset(tmp_path / "d.npz").source.read(np.arange(4)), x)


def test_missing_input_array_lists_what_is_there(tmp_path):
    np.savez(tmp_path / "d.npz", a=np.zeros((2, 2)), b=np.zeros(2))
    with pytest.raises(DataError, match=r"no array named 'x' \(found: 'a', 'b'\)") as err:
        load_dataset(tmp_path / "d.npz")
    assert str(tmp_path / "d.npz") in str(err.value)


def test_options_for_other_formats_are_refused(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.zeros((2, 2)))
    with pytest.raises(UsageError, match="--label-column"):
        load_dataset(tmp_path / "d.npz", label_column="label")


# --- hostile archives ---------------------------------------------------------------------


def test_pickled_members_are_refused(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, x=np.zeros((2, 2)), y=np.array([{"a": 1}, None], dtype=object))
    with pytest.raises(DataError, match="Python objects") as err:
        load_dataset(path)
    assert str(path) in str(err.value)


@pytest.mark.parametrize(
    ("name", "reason"),
    [("readme.txt", "not an .npy array"), ("inner/x.npy", "nested"), ("sub/", "folder")],
)
def test_members_other_than_flat_npy_arrays_are_refused(tmp_path, make, name, reason):
    good = make.array_npy(np.zeros((2, 2), np.float32))
    path = make.zip_members(tmp_path / "d.npz", {"x.npy": good, name: b"hello"})
    with pytest.raises(DataError, match=reason) as err:
        load_dataset(path)
    assert str(path) in str(err.value)


def test_a_member_that_is_not_an_npy_array_is_refused(tmp_path, make):
    path = make.zip_members(tmp_path / "d.npz", {"x.npy": b"PK not an array at all"})
    with pytest.raises(DataError, match=r"not a NumPy \.npy array") as err:
        load_dataset(path)
    assert str(path) in str(err.value)


def test_duplicate_members_are_refused(tmp_path, make):
    good = make.array_npy(np.zeros((2, 2), np.float32))
    path = tmp_path / "d.npz"
    with zipfile.ZipFile(path, "w") as archive, pytest.warns(UserWarning):
        archive.writestr("x.npy", good)
        archive.writestr("x.npy", good)
    with pytest.raises(DataError, match="twice"):
        load_dataset(path)


def test_a_real_zip_bomb_is_a_security_refusal(tmp_path):
    path = tmp_path / "bomb.npz"
    np.savez_compressed(path, x=np.zeros((1024, 1024), np.float32))  # 4 MiB of zeros -> ~4 KiB
    assert path.stat().st_size < 64 << 10
    with pytest.raises(SecurityRefusal, match="inflates") as err:
        load_dataset(path)
    assert err.value.exit_code == ExitCode.SECURITY_REFUSAL
    assert str(path) in str(err.value)


def test_a_1mb_npz_declaring_1gib_is_refused_before_inflating(tmp_path, make):
    path = make.zip_members(
        tmp_path / "d.npz",
        {"x.npy": make.array_npy(np.random.default_rng(0).random((256, 1024), np.float32))},
        method=zipfile.ZIP_DEFLATED,
    )
    _declare_size(path, "x.npy", 1 << 30)
    with pytest.raises(SecurityRefusal, match=r"inflates \d+:1") as err:
        load_dataset(path)
    assert str(path) in str(err.value)


def test_total_uncompressed_size_is_capped(tmp_path, make, small_caps):
    small_caps("MAX_NPZ_UNCOMPRESSED_BYTES", 1000)
    path = tmp_path / "d.npz"
    np.savez(path, x=np.ones((200, 4), np.float32))
    with pytest.raises(DataError, match="1000") as err:
        load_dataset(path)
    assert str(path) in str(err.value)


def test_member_size_is_capped_from_its_header(tmp_path, small_caps):
    small_caps("MAX_IN_MEMORY_ARRAY_BYTES", 100)
    path = tmp_path / "d.npz"
    np.savez(path, x=np.ones((200, 4), np.float32))
    with pytest.raises(DataError, match="declares 3200 bytes; the limit is 100"):
        load_dataset(path)


def test_a_header_that_disagrees_with_the_member_size_is_refused(tmp_path, make):
    lying = make.npy_bytes("<f4", (100, 4), b"\0" * 16)
    path = make.zip_members(tmp_path / "d.npz", {"x.npy": lying})
    with pytest.raises(DataError, match="header declares") as err:
        load_dataset(path)
    assert str(path) in str(err.value)


def test_corrupted_member_data_fails_the_crc(tmp_path, make):
    x = np.arange(64, dtype=np.float32).reshape(8, 8)
    path = make.zip_members(tmp_path / "d.npz", {"x.npy": make.array_npy(x)})
    data = bytearray(path.read_bytes())
    data[data.index(x.tobytes()[4:12]) + 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match="CRC") as err:
        load_dataset(path)
    assert str(path) in str(err.value)


def test_exotic_compression_methods_are_refused(tmp_path, make):
    member = make.array_npy(np.zeros((2, 2), np.float32))
    path = make.zip_members(tmp_path / "d.npz", {"x.npy": member}, method=zipfile.ZIP_BZIP2)
    with pytest.raises(DataError, match="compression method 12"):
        load_dataset(path)


def test_a_truncated_archive_is_a_data_error(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, x=np.ones((50, 4), np.float32))
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(DataError, match=r"not a readable \.npz") as err:
        load_dataset(path)
    assert str(path) in str(err.value)


def test_too_many_members_are_refused(tmp_path, make, small_caps):
    small_caps("MAX_NPZ_MEMBERS", 3)
    member = make.array_npy(np.zeros((2, 2), np.float32))
    path = make.zip_members(tmp_path / "d.npz", {f"a{i}.npy": member for i in range(4)})
    with pytest.raises(DataError, match="4 archive members"):
        load_dataset(path)


def _declare_size(path, name: str, size: int) -> None:
    """Rewrite a member's uncompressed size in both its local and central zip headers."""
    data = bytearray(path.read_bytes())
    encoded = name.encode()
    local = data.index(b"PK\x03\x04")
    while data[local + 30 : local + 30 + len(encoded)] != encoded:
        local = data.index(b"PK\x03\x04", local + 1)
    data[local + 22 : local + 26] = size.to_bytes(4, "little")
    central = data.index(b"PK\x01\x02")
    data[central + 24 : central + 28] = size.to_bytes(4, "little")
    path.write_bytes(bytes(data))
