"""Writers for the real data files the data tests read; every file is made in a temporary folder.

They are exposed through the ``make`` fixture (a namespace of functions) because the test
directory is not a package and tests import nothing from each other.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from robustcheck.data import limits


def npy_bytes(
    descr: str,
    shape: tuple[int, ...],
    data: bytes = b"",
    *,
    fortran: bool = False,
    version: tuple[int, int] = (1, 0),
) -> bytes:
    """An ``.npy`` file with any header at all, valid or not (``np.save`` only writes valid ones)."""
    header = f"{{'descr': {descr!r}, 'fortran_order': {fortran}, 'shape': {shape!r}, }}"
    length_size = 2 if version == (1, 0) else 4
    prefix = 6 + 2 + length_size
    header += " " * ((-(prefix + len(header) + 1)) % 64) + "\n"
    size = struct.pack("<H" if length_size == 2 else "<I", len(header))
    return b"\x93NUMPY" + bytes(version) + size + header.encode("latin1") + data


def save_npy(path: Path, array: np.ndarray) -> Path:
    np.save(path, array, allow_pickle=True)
    return path


def zip_members(path: Path, members: dict[str, bytes], *, method: int = zipfile.ZIP_STORED) -> Path:
    with zipfile.ZipFile(path, "w", compression=method) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def array_npy(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def write_image(path: Path, pixels: np.ndarray, fmt: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, format=fmt)
    return path


def pixels(seed: int, shape: tuple[int, ...]) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)


def class_folder(root: Path, counts: dict[str, int], *, shape=(8, 10, 3), suffix=".png") -> Path:
    """``root/<class>/<i><suffix>`` with ``counts[class]`` random images each."""
    seed = 0
    for name, count in counts.items():
        for i in range(count):
            seed += 1
            write_image(root / name / f"{i:03d}{suffix}", pixels(seed, shape))
    return root


def png_with_size(path: Path, width: int, height: int) -> Path:
    """A tiny PNG whose header claims ``width``×``height`` (a decompression bomb's header)."""
    write_image(path, pixels(0, (1, 1)))
    data = bytearray(path.read_bytes())
    ihdr = data.index(b"IHDR")
    data[ihdr + 4 : ihdr + 12] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[ihdr : ihdr + 17]))
    data[ihdr + 17 : ihdr + 21] = struct.pack(">I", crc)
    path.write_bytes(bytes(data))
    return path


@pytest.fixture
def small_caps(monkeypatch: pytest.MonkeyPatch):
    """Lower a cap for one test: ``small_caps("MAX_TEXT_FILE_BYTES", 10)``."""

    def lower(name: str, value: int) -> None:
        assert hasattr(limits, name), name
        monkeypatch.setattr(limits, name, value)

    return lower


@pytest.fixture(scope="session")
def make() -> SimpleNamespace:
    return SimpleNamespace(
        npy_bytes=npy_bytes,
        save_npy=save_npy,
        zip_members=zip_members,
        array_npy=array_npy,
        write_image=write_image,
        pixels=pixels,
        class_folder=class_folder,
        png_with_size=png_with_size,
    )
