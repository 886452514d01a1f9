"""Byte-identical model archives: the same weights must write the same file.

TorchScript and ``.pt2`` files are zip archives. Some torch releases (2.4's ``torch.export.save``)
stamp each member with the time of writing, so two hardening runs with the same seed wrote
different bytes. The stamps are overwritten in place, leaving every offset, and so the members'
alignment torch relies on for memory-mapping, unchanged.
"""

from __future__ import annotations

import io
import struct
import zipfile

_LOCAL = b"PK\x03\x04"
_CENTRAL = b"PK\x01\x02"
_EPOCH = struct.pack("<HH", 0, (1980 - 1980) << 9 | 1 << 5 | 1)
"""DOS time 00:00:00 and date 1980-01-01, the zip format's earliest."""


def fixed_zip_times(data: bytes) -> bytes:
    """``data`` (a zip archive) with every member's modification time set to 1980-01-01."""
    out = bytearray(data)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        infos = archive.infolist()
        central = archive.start_dir
    for info in infos:
        offset = info.header_offset
        if out[offset : offset + 4] != _LOCAL:
            raise ValueError("not a zip archive written by torch")
        out[offset + 10 : offset + 14] = _EPOCH
    for _ in infos:
        if out[central : central + 4] != _CENTRAL:
            raise ValueError("not a zip archive written by torch")
        out[central + 12 : central + 16] = _EPOCH
        name, extra, comment = struct.unpack("<HHH", out[central + 28 : central + 34])
        central += 46 + name + extra + comment
    return bytes(out)
