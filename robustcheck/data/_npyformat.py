"""The ``.npy`` header, parsed and checked before a single data byte is allocated."""

from __future__ import annotations

import warnings
import zipfile
import zlib
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

from robustcheck.data import limits
from robustcheck.data._checks import array_bytes, check_number_dtype
from robustcheck.errors import DataError

_MAX_DIMS = 32
"""NumPy 1.x's limit (2.x allows 64); no classifier input comes close."""


@dataclass(frozen=True)
class NpyHeader:
    shape: tuple[int, ...]
    fortran_order: bool
    dtype: np.dtype
    data_offset: int
    """Bytes from the start of the ``.npy`` stream to the first data byte."""

    @property
    def nbytes(self) -> int:
        return array_bytes(self.shape, self.dtype.itemsize)

    @property
    def total_bytes(self) -> int:
        """The exact length a well-formed ``.npy`` with this header has."""
        return self.data_offset + self.nbytes


def read_header(stream: BinaryIO, where: str, *, strings: bool = False) -> NpyHeader:
    """Parse the header at the stream's position (which must be 0) with NumPy's own reader.

    ``where`` names the file (and member) in errors. Only versions 1.0 and 2.0 are read: 3.0
    exists for non-Latin-1 field names, i.e. structured arrays, which are refused anyway.
    NumPy's header parser runs ``ast``/``tokenize`` on hostile text and can raise nearly any
    exception type (fuzzing found tokenize.TokenError); every one of them means "malformed".
    """
    try:
        version = np.lib.format.read_magic(stream)
    except (zlib.error, zipfile.BadZipFile) as exc:
        raise DataError(f"{where}: unreadable ({_short(exc)})") from None
    except (ValueError, EOFError, OSError) as exc:
        raise DataError(f"{where}: not a NumPy .npy array ({_short(exc)})") from None
    try:
        with warnings.catch_warnings():
            # ast.literal_eval warns about odd escapes in a hostile header; it is refused anyway.
            warnings.simplefilter("ignore", (DeprecationWarning, SyntaxWarning))
            shape, fortran, dtype = _parse(stream, version, where)
    except DataError:
        raise
    except (zlib.error, zipfile.BadZipFile) as exc:
        raise DataError(f"{where}: unreadable ({_short(exc)})") from None
    except Exception as exc:
        raise DataError(f"{where}: malformed .npy header ({_short(exc)})") from None
    if not (strings and dtype.kind == "U"):  # fixed-width text: class names, never pickles
        check_number_dtype(where, dtype)
    if len(shape) > _MAX_DIMS or any(type(d) is not int or d < 0 for d in shape):
        raise DataError(f"{where}: malformed .npy header (shape {_short_repr(shape)})")
    return NpyHeader(tuple(shape), bool(fortran), dtype, stream.tell())


def _parse(stream: BinaryIO, version: tuple[int, int], where: str):
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(
            stream, max_header_size=limits.MAX_NPY_HEADER_BYTES
        )
    if version == (2, 0):
        return np.lib.format.read_array_header_2_0(
            stream, max_header_size=limits.MAX_NPY_HEADER_BYTES
        )
    raise DataError(f"{where}: unsupported .npy format version {version[0]}.{version[1]}")


def _short_repr(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."
