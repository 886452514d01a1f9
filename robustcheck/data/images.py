"""PNG/JPEG image folders, decoded lazily a batch at a time.

Two layouts:

- **class folders** (ImageNet style): ``root/<class>/*.png|jpg|jpeg``; class indices follow
  ``root/classes.txt`` when present (``--class-order file``), else sorted folder names;
- **flat**: images listed in a CSV/TSV of ``filename,label`` rows, given by ``--labels-file``
  or found as ``root/labels.csv`` / ``root/labels.tsv``; labels are class indices or names.

At load time every image is hashed and its header read (format, size, mode); pixels are decoded
only when a batch asks for them.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from robustcheck.data import limits
from robustcheck.data._image_labels import (
    default_labels_file,
    flat_listing,
    folder_listing,
)
from robustcheck.data._imagefile import ImageInfo, decode, probe
from robustcheck.data.base import Dataset
from robustcheck.data.options import Layout, LoadOptions
from robustcheck.data.registry import loader
from robustcheck.errors import DataError
from robustcheck.files import manifest_sha256

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImageSource:
    """Images decoded on demand into float32 ``[N, C, H, W]`` (or ``[N, H, W, C]``) in 0..255."""

    images: tuple[ImageInfo, ...]
    mode: str
    """"L" (one channel) or "RGB" (three)."""
    size: tuple[int, int]
    """(height, width) of every sample."""
    resize: bool
    layout: Layout = "NCHW"

    @property
    def n(self) -> int:
        return len(self.images)

    @property
    def sample_shape(self) -> tuple[int, ...]:
        channels = 1 if self.mode == "L" else 3
        height, width = self.size
        return (channels, height, width) if self.layout == "NCHW" else (height, width, channels)

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.float32)

    def read(self, indices: np.ndarray) -> np.ndarray:
        out = np.empty((indices.size, *self.sample_shape), dtype=np.float32)
        size = self.size if self.resize else None
        for row, i in enumerate(indices):
            pixels = decode(self.images[int(i)], self.mode, size)
            out[row] = pixels.transpose(2, 0, 1) if self.layout == "NCHW" else pixels
        return out


@loader(
    "images",
    directory=True,
    options=frozenset({"labels_file", "image_size", "layout", "class_order"}),
    description="PNG/JPEG folder: one sub-folder per class, or flat with a labels file",
)
def load_images(root: Path, options: LoadOptions) -> Dataset:
    labels_file = options.labels_file or default_labels_file(root)
    listing = (
        folder_listing(root, options.class_order)
        if labels_file is None
        else flat_listing(root, labels_file, options.class_order)
    )
    if not listing.files:
        raise DataError(f"{root}: no images found")
    if len(listing.files) > limits.MAX_IMAGE_FILES:
        raise DataError(
            f"{root}: {len(listing.files)} images; the limit is {limits.MAX_IMAGE_FILES}"
        )
    images = tuple(probe(path) for path in listing.files)
    mode, notes = _common_mode(root, images)
    size = _common_size(root, images, options.image_size)
    entries = [
        (path.relative_to(root).as_posix(), info.sha256)
        for path, info in zip(listing.files, images, strict=True)
    ]
    return Dataset(
        path=str(root),
        format="images",
        sha256=manifest_sha256([*listing.extra_hashes, *entries]),
        source=ImageSource(images, mode, size, options.image_size is not None, options.layout),
        y=listing.y,
        x_key="images",
        y_key=listing.y_key,
        class_names=listing.classes.names if listing.classes else None,
        notes=(*listing.notes, *notes),
    )


def _common_mode(root: Path, images: tuple[ImageInfo, ...]) -> tuple[str, tuple[str, ...]]:
    """RGB when most images are colour (ties go to the first image's kind), else grayscale."""
    color = sum(info.color for info in images)
    gray = len(images) - color
    use_color = color > gray or (color == gray and images[0].color)
    converted = gray if use_color else color
    notes = []
    if converted:
        kind = "grayscale to RGB" if use_color else "colour to grayscale"
        notes.append(f"{converted} of {len(images)} images in {root} were converted from {kind}")
    alpha = Counter(info.mode for info in images if "A" in info.mode or info.mode in ("RGBa", "La"))
    if alpha:
        notes.append(f"{sum(alpha.values())} images in {root} have transparency, which was dropped")
    for note in notes:
        log.info(note)
    return ("RGB" if use_color else "L"), tuple(notes)


def _common_size(
    root: Path, images: tuple[ImageInfo, ...], image_size: tuple[int, int] | None
) -> tuple[int, int]:
    if image_size is not None:
        return image_size
    first = images[0]
    for info in images:
        if (info.width, info.height) != (first.width, first.height):
            raise DataError(
                f"{info.path}: {info.width}×{info.height} pixels, but {first.path} is "
                f"{first.width}×{first.height}",
                hint="pass --image-size H W to resize and center-crop every image",
            )
    return first.height, first.width


__all__ = ["ImageSource", "load_images"]
