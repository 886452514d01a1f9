"""Size caps for untrusted data files; each is checked before the memory it guards is allocated.

Loaders read these at call time (``limits.NAME``), so tests can lower a cap with monkeypatch.
docs/data.md lists every constant here; a test keeps the two in step.
"""

from __future__ import annotations

KiB = 1 << 10
MiB = 1 << 20
GiB = 1 << 30

MAX_MMAP_BYTES = 16 * GiB
"""Largest array data a memory-mapped ``.npy`` may declare (only batches are ever resident)."""

MAX_IN_MEMORY_ARRAY_BYTES = 2 * GiB
"""Largest array read whole into memory: an ``.npz`` member or a ``.npy`` labels file."""

MAX_SAMPLE_BYTES = 256 * MiB
"""Largest single sample of an array file (a batch holds batch-size of them)."""

MAX_NPY_HEADER_BYTES = 10_000
"""Largest ``.npy`` header (NumPy's own default)."""

MAX_NPZ_UNCOMPRESSED_BYTES = 2 * GiB
"""Largest total uncompressed size an ``.npz`` archive may declare over all its members."""

MAX_NPZ_COMPRESSION_RATIO = 200
"""Largest uncompressed:compressed ratio of an ``.npz`` member (a zip bomb beyond it)."""

NPZ_RATIO_EXEMPT_BYTES = 1 * MiB
"""Members that inflate to no more than this are exempt from the ratio check (all-zero labels
compress a thousandfold and are harmless at this size)."""

MAX_NPZ_MEMBERS = 1024
"""Most members an ``.npz`` archive may hold."""

MAX_TEXT_FILE_BYTES = 64 * MiB
"""Largest CSV/TSV/TXT file: tabular data, label files and image label lists."""

MAX_CLASSES_FILE_BYTES = 1 * MiB
"""Largest ``classes.txt``."""

MAX_IMAGE_FILE_BYTES = 64 * MiB
"""Largest single image file."""

MAX_IMAGE_PIXELS = 8192 * 8192
"""Largest image (width × height) decoded; a larger header is a decompression bomb."""

MAX_IMAGE_FILES = 1_000_000
"""Most images in one image-folder dataset."""

MAX_IMAGE_SIZE = 8192
"""Largest ``--image-size`` side."""

MAX_LABEL = 2**31 - 1
"""Largest class index accepted in any labels array or file."""
