"""Hostile data files: ``.npz``/``.npy`` archives and arrays, labels files, special files."""

from __future__ import annotations

import io
import json
import os
import struct
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
from hostile._case import (
    FAILED,
    INPUT,
    OK,
    REPORT,
    SECURITY,
    Case,
    Shared,
    random_bytes,
    scan,
    write,
)

from robustcheck.cli import main

Arrays = Callable[[Shared], dict[str, np.ndarray]]


def npy_bytes(descr: str, shape: tuple[int, ...], data: bytes = b"") -> bytes:
    """An ``.npy`` with any header at all (``np.save`` only writes valid ones)."""
    header = f"{{'descr': {descr!r}, 'fortran_order': False, 'shape': {shape!r}, }}"
    header += " " * ((-(10 + len(header) + 1)) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode("latin1") + data


def array_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def zip_members(path: Path, members: dict[str, bytes]) -> Path:
    """A zip of ``members`` as given; ``name#2`` writes a second member called ``name``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # zipfile warns about duplicate names
        with zipfile.ZipFile(path, "w") as archive:
            for name, data in members.items():
                archive.writestr(name.split("#")[0], data)
    return path


def _npz(arrays: Arrays, model: str = "cnn_pt"):
    """``data.npz`` holding ``arrays(fx)`` (saved with pickling allowed, as an attacker would)."""

    def build(tmp: Path, fx: Shared) -> list[str]:
        np.savez(tmp / "data.npz", **arrays(fx))
        return scan(tmp, getattr(fx, model), tmp / "data.npz")

    return build


def _y_key_absent(tmp: Path, fx: Shared) -> list[str]:
    """``--y-key labels`` on a file without it: never silently labelled by the model itself."""
    return [*_npz(lambda fx: {"x": fx.x, "y": fx.y})(tmp, fx), "--y-key", "labels"]


def _uint8_pixels(tmp: Path, fx: Shared) -> list[str]:
    """Integer pixels in an .npz (found by the fuzz test: the attack asked them for gradients)."""
    pixels = np.round(fx.x * 255).astype(np.uint8)
    argv = _npz(lambda fx: {"x": pixels, "y": fx.y})(tmp, fx)
    return [*argv, "--mean", "0", "--std", "255", "--input-range", "0", "255"]


def _npy(array: Callable[[Shared], np.ndarray], model: str = "cnn_pt2"):
    def build(tmp: Path, fx: Shared) -> list[str]:
        np.save(tmp / "data.npy", array(fx), allow_pickle=True)
        return scan(tmp, getattr(fx, model), tmp / "data.npy")

    return build


def data_file(name: str, content: Callable[[Shared], bytes | str], model: str = "cnn_pt"):
    """A scan of ``tmp/name`` holding ``content(fx)``."""

    def build(tmp: Path, fx: Shared) -> list[str]:
        return scan(tmp, getattr(fx, model), write(tmp / name, content(fx)))

    return build


def _with_nan(fx: Shared) -> np.ndarray:
    x = fx.x.copy()
    x[3, 0, 4, 4] = np.nan
    return x


def _with_inf(fx: Shared) -> np.ndarray:
    x = fx.x.copy()
    x[7, 0, 1, 1] = -np.inf
    return x


def _labels(change: Callable[[np.ndarray], np.ndarray]) -> Arrays:
    return lambda fx: {"x": fx.x, "y": change(fx.y.copy())}


def _set(y: np.ndarray, index: int, value) -> np.ndarray:
    y[index] = value
    return y


def _zip_bomb_ratio(tmp: Path, fx: Shared) -> list[str]:
    """8 MiB of zeros deflated to a few KiB: far past the 200:1 inflation limit."""
    zeros = np.zeros((32768, 1, 8, 8), np.float32)
    np.savez_compressed(tmp / "data.npz", x=zeros, y=np.zeros(32768, np.int64))
    return scan(tmp, fx.cnn_pt, tmp / "data.npz")


def _zip_bomb_declared(tmp: Path, fx: Shared) -> list[str]:
    """A small archive whose zip directory declares ~2 GiB per member."""
    path = tmp / "data.npz"
    np.savez(path, x=fx.x[:8], y=fx.y[:8])
    data = bytearray(path.read_bytes())
    at = data.find(b"PK\x01\x02")
    while at != -1:
        struct.pack_into("<I", data, at + 24, 0x7FFFFFF0)  # uncompressed size
        at = data.find(b"PK\x01\x02", at + 4)
    path.write_bytes(bytes(data))
    return scan(tmp, fx.cnn_pt, path)


def _members(members: Callable[[Shared], dict[str, bytes]]):
    def build(tmp: Path, fx: Shared) -> list[str]:
        return scan(tmp, fx.cnn_pt, zip_members(tmp / "data.npz", members(fx)))

    return build


def _bad_crc(tmp: Path, fx: Shared) -> list[str]:
    path = zip_members(tmp / "data.npz", {"x.npy": array_bytes(fx.x), "y.npy": array_bytes(fx.y)})
    data = bytearray(path.read_bytes())
    data[2000] ^= 0x40  # inside x's array data (stored, not deflated)
    path.write_bytes(bytes(data))
    return scan(tmp, fx.cnn_pt, path)


def _npy_edit(edit: Callable[[bytes], bytes]):
    def build(tmp: Path, fx: Shared) -> list[str]:
        data = edit(array_bytes(fx.x))
        return scan(tmp, fx.cnn_pt2, write(tmp / "data.npy", data))

    return build


def _labels_file(content: Callable[[Shared], str] | None):
    """``data.npy`` with ``--labels-file labels.txt`` holding ``content`` (``None``: a FIFO)."""

    def build(tmp: Path, fx: Shared) -> list[str]:
        np.save(tmp / "data.npy", fx.x)
        labels = tmp / "labels.txt"
        if content is None:
            os.mkfifo(labels)
        else:
            write(labels, content(fx))
        return scan(tmp, fx.cnn_pt2, tmp / "data.npy", "--labels-file", str(labels))

    return build


def _label_lines(fx: Shared, bad: dict[int, str] | None = None, n: int | None = None) -> str:
    lines = [str(int(v)) for v in fx.y[:n]]
    for index, value in (bad or {}).items():
        lines[index] = value
    return "\n".join(lines) + "\n"


def _special(name: str, kind: str):
    def build(tmp: Path, fx: Shared) -> list[str]:
        path = tmp / name
        if kind == "fifo":
            os.mkfifo(path)
        else:
            path.symlink_to(kind)
        return scan(tmp, fx.cnn_pt, path)

    return build


def _same_as_native(model: str, suffix: str, big_endian: Callable[[Shared, Path], None]):
    """A must-work case: big-endian data scans exactly like the same data in native order."""

    def build(tmp: Path, fx: Shared) -> list[str]:
        big_endian(fx, tmp / f"data{suffix}")
        return scan(tmp, getattr(fx, model), tmp / f"data{suffix}", "--report-only")

    def verify(tmp: Path, fx: Shared) -> None:
        native = tmp / f"native{suffix}"
        if suffix == ".npz":
            np.savez(native, x=fx.x, y=fx.y)
        else:
            np.save(native, fx.x)
        argv = scan(tmp, getattr(fx, model), native, "--report-only")
        argv[argv.index("--json") + 1] = str(tmp / "native.json")
        assert main(argv) == 0
        swapped = json.loads((tmp / REPORT).read_text())
        reference = json.loads((tmp / "native.json").read_text())
        assert swapped["complete"] is True and swapped["verdict"] == reference["verdict"]
        assert swapped["results"] == reference["results"]

    return build, verify


def _save_big_endian_npz(fx: Shared, path: Path) -> None:
    np.savez(path, x=fx.x.astype(">f4"), y=fx.y.astype(">i8"))


def _save_big_endian_npy(fx: Shared, path: Path) -> None:
    np.save(path, fx.x.astype(">f4"))


BIG_ENDIAN_NPZ = _same_as_native("linear_onnx", ".npz", _save_big_endian_npz)
BIG_ENDIAN_NPY = _same_as_native("cnn_pt2", ".npy", _save_big_endian_npy)
DATA_NPZ = "{tmp}/data.npz"
DATA_NPY = "{tmp}/data.npy"


NPZ_CASES = [
    Case(
        "npz-pickled-object-inputs",
        _npz(lambda fx: {"x": np.array([[{"__reduce__": 1}]] * 4, dtype=object), "y": fx.y[:4]}),
        INPUT,
        DATA_NPZ,
    ),
    Case("npz-zip-bomb-ratio", _zip_bomb_ratio, SECURITY, DATA_NPZ),
    Case("npz-zip-bomb-declared-size", _zip_bomb_declared, SECURITY, DATA_NPZ),
    Case(
        "npz-text-member",
        _members(
            lambda fx: {"x.npy": array_bytes(fx.x), "y.npy": array_bytes(fx.y), "notes.txt": b"hi"}
        ),
        INPUT,
        "notes.txt",
    ),
    Case(
        "npz-nested-member",
        _members(lambda fx: {"x.npy": array_bytes(fx.x), "../y.npy": array_bytes(fx.y)}),
        INPUT,
        "../y.npy",
    ),
    Case(
        "npz-duplicate-member",
        _members(
            lambda fx: {"x.npy": array_bytes(fx.x), "x.npy#2": array_bytes(fx.x[::-1].copy())}
        ),
        INPUT,
        DATA_NPZ,
    ),
    Case("npz-bad-crc", _bad_crc, INPUT, DATA_NPZ),
    Case("npz-nan-inputs", _npz(lambda fx: {"x": _with_nan(fx), "y": fx.y}), INPUT, "NaN"),
    Case("npz-inf-inputs", _npz(lambda fx: {"x": _with_inf(fx), "y": fx.y}), INPUT, "Inf"),
    Case(
        "npz-values-overflow-float32",
        _npz(lambda fx: {"x": fx.x.astype(np.float64) * 1e300, "y": fx.y}),
        INPUT,
        "NaN or Inf",
    ),
    Case(
        "npz-big-endian-must-work",
        BIG_ENDIAN_NPZ[0],
        OK,
        None,
        verify=BIG_ENDIAN_NPZ[1],
    ),
    Case(
        "npz-wrong-shape-pt2",
        _npz(lambda fx: {"x": fx.x.reshape(-1, 64), "y": fx.y}, "cnn_pt2"),
        INPUT,
        DATA_NPZ,
    ),
    Case(
        "npz-wrong-shape-onnx-nhwc",
        _npz(lambda fx: {"x": fx.x.transpose(0, 2, 3, 1).copy(), "y": fx.y}, "linear_onnx"),
        INPUT,
        DATA_NPZ,
    ),
    Case(
        "npz-wrong-shape-torchscript",
        _npz(lambda fx: {"x": np.repeat(fx.x, 3, axis=1), "y": fx.y}, "cnn_pt"),
        INPUT,
        "{tmp}",
    ),
    Case("npz-label-out-of-range", _npz(_labels(lambda y: _set(y, 5, 10))), INPUT, DATA_NPZ),
    Case("npz-label-2**40", _npz(_labels(lambda y: _set(y, 5, 2**40))), INPUT, DATA_NPZ),
    Case("npz-negative-label", _npz(_labels(lambda y: _set(y, 9, -1))), INPUT, DATA_NPZ),
    Case(
        "npz-float-labels",
        _npz(_labels(lambda y: _set(y.astype(np.float32), 2, 2.5))),
        INPUT,
        DATA_NPZ,
    ),
    Case("npz-string-labels", _npz(_labels(lambda y: y.astype(str))), INPUT, DATA_NPZ),
    Case(
        "npz-mismatched-lengths",
        _npz(lambda fx: {"x": fx.x, "y": fx.y[:-19]}),
        INPUT,
        DATA_NPZ,
    ),
    Case(
        "npz-empty-arrays",
        _npz(lambda fx: {"x": fx.x[:0], "y": fx.y[:0]}),
        INPUT,
        DATA_NPZ,
    ),
    Case(
        "npz-zero-width-samples",
        _npz(lambda fx: {"x": np.zeros((10, 0), np.float32), "y": fx.y[:10]}),
        INPUT,
        DATA_NPZ,
    ),
    Case(
        "npz-complex-inputs",
        _npz(lambda fx: {"x": fx.x.astype(np.complex64), "y": fx.y}),
        INPUT,
        DATA_NPZ,
    ),
    Case("npz-no-x-member", _npz(lambda fx: {"inputs": fx.x, "y": fx.y}), INPUT, "--x-key"),
    Case("npz-uint8-pixels", _uint8_pixels, OK | FAILED, None),
    Case(
        "npz-y-key-names-an-absent-array",
        _y_key_absent,
        INPUT,
        "{tmp}/data.npz: no label array named 'labels'",
    ),
    Case("npz-random-bytes", data_file("data.npz", lambda fx: random_bytes(2048)), INPUT, DATA_NPZ),
]

NPY_CASES = [
    Case(
        "npy-pickled-object-array",
        _npy(lambda fx: np.array([[None, {"a": 1}]] * 4, dtype=object)),
        INPUT,
        DATA_NPY,
    ),
    Case("npy-nan-inputs", _npy(_with_nan), INPUT, "NaN"),
    Case("npy-truncated", _npy_edit(lambda data: data[:-100]), INPUT, DATA_NPY),
    Case("npy-trailing-bytes", _npy_edit(lambda data: data + b"\0" * 7), INPUT, DATA_NPY),
    Case(
        "npy-huge-declared-shape",
        data_file("data.npy", lambda fx: npy_bytes("<f4", (10**9, 1, 8, 8)), "cnn_pt2"),
        INPUT,
        DATA_NPY,
    ),
    Case(
        "npy-fortran-order",
        _npy(lambda fx: np.asfortranarray(fx.x)),
        INPUT,
        DATA_NPY,
    ),
    Case("npy-big-endian-must-work", BIG_ENDIAN_NPY[0], OK, None, verify=BIG_ENDIAN_NPY[1]),
    Case(
        "npy-labels-file-text-label",
        _labels_file(lambda fx: _label_lines(fx, {2: "cat"})),
        INPUT,
        "{tmp}/labels.txt",
    ),
    Case(
        "npy-labels-file-too-few-labels",
        _labels_file(lambda fx: _label_lines(fx, n=10)),
        INPUT,
        "{tmp}/labels.txt",
    ),
    Case("npy-labels-file-fifo", _labels_file(None), INPUT, "{tmp}/labels.txt"),
]

SPECIAL_CASES = [
    Case(
        "data-missing",
        lambda tmp, fx: scan(tmp, fx.cnn_pt, tmp / "absent.npz"),
        INPUT,
        "{tmp}/absent.npz",
    ),
    Case("data-fifo", _special("data.npz", "fifo"), INPUT, DATA_NPZ),
    Case("data-symlink-dev-zero", _special("data.npy", "/dev/zero"), INPUT, DATA_NPY),
    Case(
        "data-unknown-extension",
        data_file("data.pkl", lambda fx: random_bytes(256)),
        INPUT,
        "{tmp}/data.pkl",
    ),
]

CASES = [*NPZ_CASES, *NPY_CASES, *SPECIAL_CASES]
