"""Hostile image folders: bombs, disguised formats, escaping symlinks, odd entries."""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
from hostile._case import FAILED, INPUT, OK, SECURITY, Case, Shared, scan, write
from PIL import Image


def png(path: Path, seed: int = 0, *, size: int = 8, fmt: str = "PNG", dtype=np.uint8) -> Path:
    """A grayscale ``size``×``size`` image (what the digits CNN takes), saved as ``fmt``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    high = 256 if dtype == np.uint8 else 65536
    pixels = np.random.default_rng(seed).integers(0, high, size=(size, size)).astype(dtype)
    Image.fromarray(pixels).save(path, format=fmt)
    return path


def classes(root: Path, counts: dict[str, int]) -> Path:
    """``root/<class>/<i>.png`` with ``counts[class]`` images each."""
    seed = 0
    for name, count in counts.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            seed += 1
            png(root / name / f"{i:03d}.png", seed)
    return root


def _bomb(path: Path, width: int, height: int) -> Path:
    """A real 1×1 PNG whose header (with a valid CRC) claims ``width``×``height``."""
    png(path, size=1)
    data = bytearray(path.read_bytes())
    struct.pack_into(">II", data, 16, width, height)
    struct.pack_into(">I", data, 29, zlib.crc32(bytes(data[12:29])))
    path.write_bytes(bytes(data))
    return path


def _folder(hostile: Callable[[Path, Path], None]):
    """A two-class folder ``tmp/images`` of good images, then ``hostile(root, tmp)`` applied."""

    def build(tmp: Path, fx: Shared) -> list[str]:
        root = classes(tmp / "images", {"0": 3, "1": 3})
        hostile(root, tmp)
        return scan(tmp, fx.cnn_pt, root)

    return build


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 30])


def _flat(entry: Callable[[Path], str]):
    """The flat layout: ``labels.csv`` naming good images and one hostile entry."""

    def build(tmp: Path, fx: Shared) -> list[str]:
        root = tmp / "images"
        png(root / "a.png", 1)
        png(root / "b.png", 2)
        png(tmp / "outside.png", 3)
        write(root / "labels.csv", f"filename,label\na.png,0\nb.png,1\n{entry(tmp)},1\n")
        return scan(tmp, fx.cnn_pt, root)

    return build


def _fewer_classes(tmp: Path, fx: Shared) -> list[str]:
    """Digits 0 and 1 only, no classes.txt, for the ten-class CNN: a sample lacking classes scans."""
    root = tmp / "images"
    for label in (0, 1):
        (root / str(label)).mkdir(parents=True)
        for i, image in enumerate(fx.x[fx.y == label][:5]):
            pixels = np.round(image[0] * 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / str(label) / f"{i:03d}.png")
    return scan(tmp, fx.cnn_pt, root, "--mean", "0", "--std", "255", "--input-range", "0", "255")


def _empty_root(tmp: Path, fx: Shared) -> list[str]:
    (tmp / "images").mkdir()
    return scan(tmp, fx.cnn_pt, tmp / "images")


IMAGES = "{tmp}/images"

CASES = [
    Case(
        "images-decompression-bomb-png",
        _folder(lambda root, tmp: _bomb(root / "1" / "bomb.png", 100_000, 100_000)),
        SECURITY,
        "bomb.png",
    ),
    Case(
        "images-gif-renamed-png",
        _folder(lambda root, tmp: png(root / "1" / "003.png", 9, fmt="GIF")),
        INPUT,
        "003.png",
    ),
    Case(
        "images-symlink-escaping-root",
        _folder(
            lambda root, tmp: (root / "1" / "evil.png").symlink_to(png(tmp / "outside.png", 5))
        ),
        SECURITY,
        "evil.png",
    ),
    Case(
        "images-class-folder-symlink-escaping-root",
        _folder(lambda root, tmp: (root / "2").symlink_to(tmp)),
        SECURITY,
        f"{IMAGES}/2",
    ),
    Case(
        "images-symlink-inside-root",
        _folder(lambda root, tmp: (root / "1" / "again.png").symlink_to(root / "0" / "000.png")),
        INPUT,
        "again.png",
    ),
    Case(
        "images-empty-class-folder",
        _folder(lambda root, tmp: (root / "2").mkdir()),
        INPUT,
        f"{IMAGES}/2",
    ),
    Case("images-no-images-at-all", _empty_root, INPUT, IMAGES),
    Case("images-fewer-classes-than-the-model", _fewer_classes, OK | FAILED, None),
    Case(
        "images-symlink-loop",
        _folder(lambda root, tmp: (root / "1" / "loop.png").symlink_to("loop.png")),
        INPUT,
        "loop.png",
    ),
    Case(
        "images-truncated-png",
        _folder(lambda root, tmp: _truncate(root / "1" / "001.png")),
        INPUT,
        "001.png",
    ),
    Case(
        "images-fifo-in-class-folder",
        _folder(lambda root, tmp: os.mkfifo(root / "1" / "pipe.png")),
        INPUT,
        "pipe.png",
    ),
    Case(
        "images-nested-folder",
        _folder(lambda root, tmp: png(root / "1" / "deeper" / "x.png", 7)),
        INPUT,
        "deeper",
    ),
    Case(
        "images-text-file-in-class-folder",
        _folder(lambda root, tmp: write(root / "1" / "notes.txt", "hello")),
        INPUT,
        "notes.txt",
    ),
    Case(
        "images-16-bit-png",
        _folder(lambda root, tmp: png(root / "1" / "003.png", 9, dtype=np.uint16)),
        INPUT,
        "003.png",
    ),
    Case(
        "images-size-mismatch",
        _folder(lambda root, tmp: png(root / "1" / "003.png", 9, size=9)),
        INPUT,
        "003.png",
    ),
    Case(
        "images-labels-list-dotdot",
        _flat(lambda tmp: "../outside.png"),
        SECURITY,
        "../outside.png",
    ),
    Case(
        "images-labels-list-absolute-path",
        _flat(lambda tmp: str(tmp / "outside.png")),
        SECURITY,
        "{tmp}/outside.png",
    ),
]
