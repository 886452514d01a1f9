"""NumPy ``.npz`` archives with an input array and an optional label array.

The archive is untrusted: its zip directory is inspected before anything is inflated, every
member must be a plain numeric ``.npy`` whose header is checked from the zip stream, and only
then are the input and label members read, into memory (deflated members cannot be mapped).
"""

from __future__ import annotations

import struct
import zipfile
import zlib
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from robustcheck.data import limits
from robustcheck.data._checks import (
    check_finite,
    check_input_shape,
    check_labels,
    count_nonfinite_samples,
    row_chunks,
)
from robustcheck.data._npyformat import NpyHeader, read_header
from robustcheck.data.base import ArraySource, Dataset, native_dtype
from robustcheck.data.options import DEFAULT_X_KEY, LoadOptions
from robustcheck.data.registry import loader
from robustcheck.errors import DataError, SecurityRefusal, quoted
from robustcheck.files import CHUNK, open_regular, sha256_stream

_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflated"}
# What zipfile raises on a corrupt archive (found by fuzzing, not only by reading its source).
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    struct.error,
    OSError,
    EOFError,
    ValueError,
    NotImplementedError,
)


@dataclass(frozen=True)
class NpzArchive:
    """An open ``.npz`` archive whose members passed the safety checks (plain ``.npy`` only)."""

    path: Path
    sha256: str
    archive: zipfile.ZipFile
    members: dict[str, tuple[zipfile.ZipInfo, NpyHeader]]

    def read(self, name: str) -> np.ndarray:
        info, header = self.members[name]
        return _read_member(self.archive, info, header, f"{self.path}: array {name!r}")


@contextmanager
def open_npz(path: Path) -> Iterator[NpzArchive]:
    """``path`` opened as every ``.npz`` loader needs it: a regular file under the size cap,
    hashed, its members inspected before any array is read."""
    with open_regular(path) as (handle, size):
        if size > limits.MAX_NPZ_UNCOMPRESSED_BYTES:
            raise DataError(
                f"{path}: the archive is {size} bytes; the limit is {limits.MAX_NPZ_UNCOMPRESSED_BYTES}"
            )
        sha256 = sha256_stream(handle)
        handle.seek(0)
        with _open_zip(path, handle) as archive:
            yield NpzArchive(path, sha256, archive, _inspect(path, archive))


@loader(
    "npz",
    suffixes=(".npz",),
    options=frozenset({"x_key", "y_key", "layout"}),
    description="NumPy archive with an input array and an optional label array",
)
def load_npz(path: Path, options: LoadOptions) -> Dataset:
    y_key = options.y_key
    with open_npz(path) as npz:
        members = npz.members
        x_key, notes = input_array(path, members, options)
        if x_key not in members:
            raise DataError(
                f"{path}: no array named {x_key!r} (found: {quoted(sorted(members)) or 'none'})",
                hint="name the input array with --x-key",
            )
        x_where = f"{path}: array {x_key!r}"
        header = members[x_key][1]
        check_input_shape(x_where, header.shape, header.dtype.itemsize)
        x = npz.read(x_key)
        y = None
        if y_key is not None and y_key not in members:  # named: never silently unlabelled
            raise DataError(
                f"{path}: no label array named {y_key!r} (found: {quoted(sorted(members))})",
                hint="leave --y-key out to label samples with the model's own predictions",
            )
        y_key = y_key or "y"
        if y_key in members:
            y = npz.read(y_key)
        class_names = _class_names(path, npz.archive, members)
    check_finite(x_where, count_nonfinite_samples(row_chunks(x)), x.shape[0])
    if y is not None:
        y = check_labels(f"{path}: labels {y_key!r}", y, x.shape[0])
    return Dataset(
        path=str(path),
        format="npz",
        sha256=npz.sha256,
        source=ArraySource(x),
        y=y,
        x_key=x_key,
        y_key=y_key if y is not None else None,
        class_names=class_names,
        notes=notes,
    )


def input_array(
    path: Path, members: Collection[str], options: LoadOptions
) -> tuple[str, tuple[str, ...]]:
    """The array holding the attacked input, and what the report should say about the choice:
    ``--x-key`` when given; else the array named after the attacked model input (as the model's
    other inputs are read by their names), when there is one; else ``x``. With both ``x`` and the
    named array and no ``--x-key``, the named array wins and the report says so."""
    if options.x_key_given:
        return options.x_key, ()
    name = options.input_name
    if name is None or name == DEFAULT_X_KEY or name not in members:
        return DEFAULT_X_KEY, ()
    if DEFAULT_X_KEY not in members:
        return name, ()
    return name, (
        f"{path}: the attacked input {name!r} was read from the array named after it, not from "
        f"{DEFAULT_X_KEY!r} (pass --x-key {DEFAULT_X_KEY} to read that one)",
    )


def read_side_arrays(
    path: Path, names: tuple[str, ...], n: int
) -> tuple[tuple[str, np.ndarray], ...]:
    """A multi-input model's other inputs: the arrays named after them, ``n`` rows each, checked
    like the input array (plain numeric ``.npy`` members, finite)."""
    with open_regular(path) as (handle, _), _open_zip(path, handle) as archive:
        members = _inspect(path, archive)
        missing = [name for name in names if name not in members]
        if missing:
            raise DataError(
                f"{path}: no array for the model input(s) {', '.join(map(repr, missing))} "
                f"(found: {quoted(sorted(members))})",
                hint="a multi-input model reads its other inputs from arrays named after them",
            )
        arrays = []
        for name in names:
            where = f"{path}: array {name!r}"
            info, header = members[name]
            array = _read_member(archive, info, header, where)
            if array.ndim == 0 or array.shape[0] != n:
                raise DataError(
                    f"{where} has {len(array) if array.ndim else 0} rows; the input array has {n}"
                )
            if array.dtype.kind == "f":
                check_finite(where, count_nonfinite_samples(row_chunks(array)), n)
            arrays.append((name, array))
    return tuple(arrays)


CLASSES_KEY = "classes"
MAX_CLASS_NAME = 200


def _class_names(
    path: Path, archive: zipfile.ZipFile, members: dict[str, tuple[zipfile.ZipInfo, NpyHeader]]
) -> tuple[str, ...] | None:
    """Class names from a ``classes`` array of strings (label i is named ``classes[i]``)."""
    if CLASSES_KEY not in members:
        return None
    info, header = members[CLASSES_KEY]
    where = f"{path}: array {CLASSES_KEY!r}"
    if header.dtype.kind != "U" or len(header.shape) != 1:
        raise DataError(f"{where} must be a 1-D array of strings (one name per label)")
    names = tuple(str(n) for n in _read_member(archive, info, header, where))
    if any(not n or len(n) > MAX_CLASS_NAME for n in names) or len(set(names)) != len(names):
        raise DataError(f"{where}: names must be unique, non-empty and at most 200 characters")
    return names


def _open_zip(path: Path, handle: BinaryIO) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(handle)
    except _ZIP_ERRORS as exc:
        raise DataError(f"{path}: not a readable .npz archive ({exc})") from None


def _inspect(path: Path, archive: zipfile.ZipFile) -> dict[str, tuple[zipfile.ZipInfo, NpyHeader]]:
    """Every member's zip entry and ``.npy`` header, keyed by array name; refuses what is unsafe."""
    infos = archive.infolist()
    if len(infos) > limits.MAX_NPZ_MEMBERS:
        raise DataError(
            f"{path}: {len(infos)} archive members; the limit is {limits.MAX_NPZ_MEMBERS}"
        )
    total = sum(info.file_size for info in infos)
    if total > limits.MAX_NPZ_UNCOMPRESSED_BYTES:
        raise SecurityRefusal(
            f"{path}: members inflate to {total} bytes; the limit is "
            f"{limits.MAX_NPZ_UNCOMPRESSED_BYTES} (a possible zip bomb)"
        )
    members: dict[str, tuple[zipfile.ZipInfo, NpyHeader]] = {}
    for info in infos:
        name = _member_name(path, info)
        if name in members:
            raise DataError(f"{path}: the archive holds {info.filename!r} twice")
        _check_compression(path, info)
        members[name] = (info, _member_header(path, archive, info, strings=name == CLASSES_KEY))
    return members


def _member_name(path: Path, info: zipfile.ZipInfo) -> str:
    name = info.filename
    if name.endswith("/") or "/" in name or "\\" in name:
        raise DataError(f"{path}: member {name!r} is a folder or nested; expected flat .npy arrays")
    if not name.endswith(".npy") or name == ".npy":
        raise DataError(f"{path}: member {name!r} is not an .npy array")
    if info.flag_bits & 0x1:
        raise DataError(f"{path}: member {name!r} is encrypted")
    return name[: -len(".npy")]


def _check_compression(path: Path, info: zipfile.ZipInfo) -> None:
    if info.compress_type not in _METHODS:
        raise DataError(
            f"{path}: member {info.filename!r} uses zip compression method {info.compress_type}; "
            "only stored and deflated members are read"
        )
    if info.file_size <= limits.NPZ_RATIO_EXEMPT_BYTES:
        return
    ratio = info.file_size / max(info.compress_size, 1)
    if ratio > limits.MAX_NPZ_COMPRESSION_RATIO:
        raise SecurityRefusal(
            f"{path}: member {info.filename!r} inflates {ratio:.0f}:1 ({info.compress_size} to "
            f"{info.file_size} bytes); the limit is {limits.MAX_NPZ_COMPRESSION_RATIO}:1 "
            "(a possible zip bomb)"
        )


def _member_header(
    path: Path, archive: zipfile.ZipFile, info: zipfile.ZipInfo, *, strings: bool = False
) -> NpyHeader:
    where = f"{path}: member {info.filename!r}"
    try:
        with archive.open(info) as stream:
            header = read_header(stream, where, strings=strings)  # type: ignore[arg-type]
    except _ZIP_ERRORS as exc:
        raise DataError(f"{where} is unreadable ({exc})") from None
    if header.total_bytes != info.file_size:
        raise DataError(
            f"{where}: the header declares {header.total_bytes} bytes but the member holds "
            f"{info.file_size}"
        )
    if header.nbytes > limits.MAX_IN_MEMORY_ARRAY_BYTES:
        raise DataError(
            f"{where} declares {header.nbytes} bytes; the limit is {limits.MAX_IN_MEMORY_ARRAY_BYTES}"
        )
    return header


def _read_member(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, header: NpyHeader, where: str
) -> np.ndarray:
    """The member's array, read in chunks into one buffer; the zip CRC is checked at its end."""
    out = np.empty(header.shape, dtype=header.dtype, order="F" if header.fortran_order else "C")
    view = out.reshape(-1, order="A").view(np.uint8).data
    try:
        with archive.open(info) as stream:
            stream.seek(header.data_offset)
            filled = 0
            while filled < header.nbytes:
                chunk = stream.read(min(CHUNK, header.nbytes - filled))
                if not chunk:
                    raise DataError(f"{where} is truncated ({filled} of {header.nbytes} bytes)")
                view[filled : filled + len(chunk)] = chunk
                filled += len(chunk)
            stream.read(1)  # reaching the end is what makes zipfile check the CRC
    except _ZIP_ERRORS as exc:
        raise DataError(f"{where} is unreadable ({exc})") from None
    if out.dtype != native_dtype(out.dtype):
        out = out.byteswap(inplace=True).view(native_dtype(out.dtype))
    return np.ascontiguousarray(out)
