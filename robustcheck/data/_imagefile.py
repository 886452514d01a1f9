"""Opening one untrusted image with Pillow: PNG/JPEG only, size from the header before decoding.

Pillow's parsers raise many exception types on corrupt input (OSError, SyntaxError, ValueError,
struct.error, ...); at this boundary any of them means "unreadable image", reported with the file.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile

from robustcheck.data import limits
from robustcheck.errors import DataError, RobustcheckError, SecurityRefusal
from robustcheck.files import open_regular, sha256_stream

FORMATS = ("PNG", "JPEG")
"""The only Pillow parsers ever run on these files."""
ACCEPTED = frozenset({"PNG", "JPEG", "MPO"})
"""Formats those parsers report: a multi-picture JPEG (MPO, from some cameras) is read as its
first picture, like any JPEG."""
GRAY_MODES = frozenset({"1", "L", "LA", "La"})
COLOR_MODES = frozenset({"P", "PA", "RGB", "RGBA", "RGBa", "RGBX", "CMYK", "YCbCr"})


@dataclass(frozen=True)
class ImageInfo:
    path: Path
    width: int
    height: int
    mode: str
    sha256: str

    @property
    def color(self) -> bool:
        return self.mode in COLOR_MODES


def probe(path: Path) -> ImageInfo:
    """Hash the file and read its header (format, size, mode) without decoding any pixels."""
    with open_regular(path, follow_symlinks=False) as (handle, size):
        if size > limits.MAX_IMAGE_FILE_BYTES:
            raise DataError(
                f"{path}: {size} bytes; images are limited to {limits.MAX_IMAGE_FILE_BYTES}"
            )
        sha256 = sha256_stream(handle)
        handle.seek(0)
        with _opened(path, handle) as image:
            info = ImageInfo(path, image.width, image.height, image.mode, sha256)
    if info.mode not in GRAY_MODES and info.mode not in COLOR_MODES:
        raise DataError(
            f"{path}: image mode {info.mode} is not supported; expected 8-bit grayscale or colour"
        )
    return info


def decode(info: ImageInfo, mode: str, size: tuple[int, int] | None) -> np.ndarray:
    """The image as float32 ``[H, W, C]`` in 0..255, converted to ``mode`` ("L" or "RGB")."""
    with (
        open_regular(info.path, follow_symlinks=False) as (handle, _),
        _opened(info.path, handle) as image,
    ):
        if (image.width, image.height, image.mode) != (info.width, info.height, info.mode):
            raise DataError(f"{info.path}: the image changed after it was first read")
        try:
            image.load()
            converted = image.convert(mode)
            if size is not None:
                converted = _cover_and_crop(converted, size)
        except RobustcheckError:
            raise
        except Image.DecompressionBombError as exc:
            raise SecurityRefusal(f"{info.path}: decompression bomb ({exc})") from None
        except Exception as exc:
            raise DataError(f"{info.path}: unreadable or truncated image ({_short(exc)})") from None
        pixels = np.asarray(converted, dtype=np.float32)
    return pixels[:, :, None] if pixels.ndim == 2 else pixels


def _cover_and_crop(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Scale (bilinear) so the image covers ``size`` = (height, width), then crop the centre."""
    height, width = size
    scale = max(height / image.height, width / image.width)
    new_w = max(width, int(image.width * scale + 0.5))
    new_h = max(height, int(image.height * scale + 0.5))
    if (new_w, new_h) != image.size:
        image = image.resize((new_w, new_h), Image.Resampling.BILINEAR)
    left, top = (new_w - width) // 2, (new_h - height) // 2
    return image.crop((left, top, left + width, top + height))


@contextmanager
def _opened(path: Path, handle) -> Iterator[Image.Image]:
    with _guard():
        try:
            image = Image.open(handle, formats=list(FORMATS))
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise SecurityRefusal(f"{path}: decompression bomb ({_short(exc)})") from None
        except Exception as exc:
            raise DataError(f"{path}: not a readable PNG or JPEG image ({_short(exc)})") from None
        with image:
            if image.format not in ACCEPTED:
                raise DataError(f"{path}: {image.format} images are not accepted (PNG, JPEG)")
            if image.width * image.height > limits.MAX_IMAGE_PIXELS:
                raise SecurityRefusal(
                    f"{path}: {image.width}×{image.height} pixels; the limit is "
                    f"{limits.MAX_IMAGE_PIXELS} (a possible decompression bomb)"
                )
            if image.width < 1 or image.height < 1:
                raise DataError(f"{path}: the image is empty ({image.width}×{image.height})")
            yield image


@contextmanager
def _guard() -> Iterator[None]:
    """Pillow's bomb check at our cap, its warning as an error, truncated files as errors.

    These are Pillow globals, so they are set only for the duration of the call and restored.
    """
    saved = Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES
    Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES = limits.MAX_IMAGE_PIXELS, False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield
    finally:
        Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES = saved


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."
