from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from robustcheck.data import (
    ArraySource,
    Dataset,
    LoaderRegistry,
    LoaderSpec,
    LoadOptions,
    builtin_registry,
    load_dataset,
)
from robustcheck.errors import DataError, UsageError


def test_builtins_are_registered_by_name_with_their_suffixes():
    registry = builtin_registry()
    assert registry.names() == ["csv", "images", "npy", "npz", "text", "tokens"]
    assert registry.for_path(Path("a.NPZ"), is_dir=False).name == "npz"
    assert registry.for_path(Path("a.tsv"), is_dir=False).name == "csv"
    assert registry.for_path(Path("folder"), is_dir=True).name == "images"


def test_names_suffixes_and_directories_cannot_be_claimed_twice():
    registry = builtin_registry()
    with pytest.raises(ValueError, match="already registered"):
        registry.register(LoaderSpec("npz", _plugin_loader))
    with pytest.raises(ValueError, match=r"suffix '\.npy' belongs to 'npy'"):
        registry.register(LoaderSpec("other", _plugin_loader, suffixes=(".npy",)))
    with pytest.raises(ValueError, match="directories belong to 'images'"):
        registry.register(LoaderSpec("other", _plugin_loader, directory=True))
    with pytest.raises(ValueError, match="lower-case"):
        registry.register(LoaderSpec("other", _plugin_loader, suffixes=("DAT",)))


def _plugin_loader(path: Path, options: LoadOptions) -> Dataset:
    x = np.frombuffer(path.read_bytes(), dtype=np.uint8).astype(np.float32)[:, None]
    return Dataset(str(path), "bytes", "0" * 64, ArraySource(x), None, options.x_key, None)


def test_a_plugin_loader_is_chosen_by_its_suffix(tmp_path):
    registry = LoaderRegistry()
    registry.register(
        LoaderSpec("bytes", _plugin_loader, suffixes=(".bin",), options=frozenset({"x_key"}))
    )
    (tmp_path / "d.bin").write_bytes(b"\x01\x02\x03")
    dataset = load_dataset(tmp_path / "d.bin", registry=registry, x_key="raw")
    assert dataset.format == "bytes" and dataset.n_samples == 3 and dataset.x_key == "raw"


def test_data_format_overrides_the_suffix(tmp_path):
    np.save(tmp_path / "x.npy", np.ones((3, 2), np.float32))
    (tmp_path / "x.npy").rename(tmp_path / "x.dat")
    with pytest.raises(DataError, match=r"unsupported data format '\.dat'") as err:
        load_dataset(tmp_path / "x.dat")
    assert "--data-format" in err.value.one_line()
    assert load_dataset(tmp_path / "x.dat", data_format="npy").n_samples == 3


def test_unknown_data_format_lists_the_known_ones(tmp_path):
    np.save(tmp_path / "x.npy", np.ones((3, 2), np.float32))
    with pytest.raises(UsageError, match="choose from csv, images, npy, npz"):
        load_dataset(tmp_path / "x.npy", data_format="parquet")


def test_a_file_format_refuses_a_directory_and_vice_versa(tmp_path):
    (tmp_path / "d").mkdir()
    with pytest.raises(DataError, match="the npz format reads a file"):
        load_dataset(tmp_path / "d", data_format="npz")
    np.save(tmp_path / "x.npy", np.ones((3, 2), np.float32))
    with pytest.raises(DataError, match="the images format reads a directory"):
        load_dataset(tmp_path / "x.npy", data_format="images")


def test_layout_applies_to_arrays(tmp_path):
    """--layout says where the channel axis of .npz/.npy arrays is (for --mean/--std)."""
    np.savez(tmp_path / "d.npz", x=np.ones((3, 4, 4, 3), np.float32))
    np.save(tmp_path / "d.npy", np.ones((3, 4, 4, 3), np.float32))
    assert load_dataset(tmp_path / "d.npz", layout="NHWC").sample_shape == (4, 4, 3)
    assert load_dataset(tmp_path / "d.npy", layout="NHWC").sample_shape == (4, 4, 3)


@pytest.mark.parametrize(
    ("kwargs", "flags"),
    [
        ({"class_order": "sorted", "image_size": (4, 4)}, "--image-size, --class-order"),
        ({"labels_file": Path("y.txt")}, "--labels-file"),
    ],
)
def test_options_a_loader_ignores_are_usage_errors(tmp_path, kwargs, flags):
    np.savez(tmp_path / "d.npz", x=np.ones((3, 2), np.float32))
    with pytest.raises(UsageError, match=f"{flags}: not used by the npz data format"):
        load_dataset(tmp_path / "d.npz", **kwargs)


def test_bad_layout_and_class_order_values(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.ones((3, 2), np.float32))
    with pytest.raises(UsageError, match="--layout"):
        load_dataset(tmp_path / "d.npz", layout="CHW")  # type: ignore[arg-type]
    with pytest.raises(UsageError, match="--class-order"):
        load_dataset(tmp_path / "d.npz", class_order="random")  # type: ignore[arg-type]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_special_file_is_not_data(tmp_path):
    os.mkfifo(tmp_path / "pipe.npz")
    with pytest.raises(DataError, match="not a regular file"):
        load_dataset(tmp_path / "pipe.npz")
