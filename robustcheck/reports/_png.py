"""A minimal PNG encoder (8-bit grayscale and RGB) on zlib and struct: no imaging dependency."""

from __future__ import annotations

import struct
import zlib

import numpy as np

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_GRAY, _RGB = 0, 2


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(data, zlib.crc32(kind)) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def encode_png(pixels: np.ndarray) -> bytes:
    """Encode ``uint8`` pixels of shape (H, W) (grayscale) or (H, W, 3) (RGB) as a PNG file."""
    if pixels.dtype != np.uint8:
        raise ValueError(f"PNG pixels must be uint8, not {pixels.dtype}")
    if pixels.ndim == 2:
        color_type = _GRAY
    elif pixels.ndim == 3 and pixels.shape[2] == 3:
        color_type = _RGB
    else:
        raise ValueError(f"PNG pixels must have shape (H, W) or (H, W, 3), not {pixels.shape}")
    height, width = pixels.shape[:2]
    if height == 0 or width == 0:
        raise ValueError("a PNG needs at least one pixel")
    rows = np.ascontiguousarray(pixels).reshape(height, -1)
    # Filter type 0 (None) on every row: each scanline is a zero byte followed by its pixels.
    raw = np.concatenate([np.zeros((height, 1), np.uint8), rows], axis=1).tobytes()
    header = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    return (
        _SIGNATURE
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(raw, 9))
        + _chunk(b"IEND", b"")
    )
