"""Example images: the stdlib PNG encoder and make_example, checked by decoding with Pillow."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from PIL import Image

from robustcheck.reports.examples import encode_png, make_example


def _decode(b64: str) -> tuple[str, np.ndarray]:
    with Image.open(io.BytesIO(base64.b64decode(b64))) as image:
        image.load()
        return image.mode, np.asarray(image)


def _example(clean: np.ndarray, adversarial: np.ndarray, layout: str = "NCHW"):
    return make_example(3, 1, 0.1, clean, adversarial, 1, 0.9, 2, 0.8, layout=layout)


@pytest.mark.parametrize("shape", [(5, 7), (3, 2, 3), (1, 1), (2, 300, 3)])
def test_png_round_trips_through_pillow(shape):
    pixels = np.random.default_rng(0).integers(0, 256, size=shape, dtype=np.uint8)
    with Image.open(io.BytesIO(encode_png(pixels))) as image:
        assert image.mode == ("L" if len(shape) == 2 else "RGB")
        np.testing.assert_array_equal(np.asarray(image), pixels)


def test_png_is_deterministic_and_carries_no_metadata():
    pixels = np.random.default_rng(1).integers(0, 256, size=(64, 64, 3), dtype=np.uint8)
    first = encode_png(pixels)
    assert encode_png(pixels.copy()) == first
    chunks, at = [], 8
    while at < len(first):
        size = int.from_bytes(first[at : at + 4], "big")
        chunks.append(first[at + 4 : at + 8])
        at += 12 + size
    assert set(chunks) == {b"IHDR", b"IDAT", b"IEND"}  # no time, text or physical-size chunk


@pytest.mark.parametrize(
    "pixels",
    [np.zeros((2, 2), np.float32), np.zeros((2, 2, 4), np.uint8), np.zeros((0, 3), np.uint8)],
)
def test_png_rejects_what_it_cannot_encode(pixels):
    with pytest.raises(ValueError):
        encode_png(pixels)


def test_grayscale_digit_pixels():
    clean = (np.arange(64, dtype=np.float32) / 63).reshape(1, 8, 8)
    delta = np.where(np.arange(64).reshape(1, 8, 8) % 2 == 0, 0.1, -0.1)
    adversarial = np.clip(clean + delta, 0, 1)
    example = _example(clean, adversarial)
    assert example is not None
    assert (example.index, example.label, example.adversarial_prediction) == (3, 1, 2)

    mode, clean_px = _decode(example.clean_png)
    assert mode == "L" and clean_px.shape == (64, 64)  # 8×8 enlarged 8× by nearest neighbour
    expected = np.rint(clean[0] * 255).astype(np.uint8)  # shared range is exactly [0, 1]
    np.testing.assert_array_equal(clean_px, np.repeat(np.repeat(expected, 8, 0), 8, 1))

    _, adv_px = _decode(example.adversarial_png)
    np.testing.assert_array_equal(adv_px[::8, ::8], np.rint(adversarial[0] * 255).astype(np.uint8))

    _, pert_px = _decode(example.perturbation_png)
    real = adversarial[0] - clean[0]
    expected_pert = np.clip(np.rint(128 + real / np.abs(real).max() * 127), 0, 255)
    np.testing.assert_array_equal(pert_px[::8, ::8], expected_pert.astype(np.uint8))
    assert pert_px.max() == 255  # the largest change uses the full half-range


def test_clean_and_adversarial_share_one_range():
    clean = np.full((4, 4), 0.5)
    adversarial = clean.copy()
    adversarial[0, 0] = 1.5
    example = _example(clean, adversarial)
    assert example is not None
    _, clean_px = _decode(example.clean_png)
    _, adv_px = _decode(example.adversarial_png)
    assert np.all(clean_px == 0)  # 0.5 is the bottom of the shared range [0.5, 1.5]
    assert adv_px[0, 0] == 255 and adv_px[-1, -1] == 0


def test_rgb_layouts_agree():
    nchw = np.linspace(-1, 1, 48).reshape(3, 4, 4)
    adv = nchw[::-1].copy()
    from_nchw = _example(nchw, adv, "NCHW")
    from_nhwc = _example(np.moveaxis(nchw, 0, -1), np.moveaxis(adv, 0, -1), "NHWC")
    assert from_nchw is not None and from_nhwc is not None
    assert from_nchw == from_nhwc
    mode, pixels = _decode(from_nchw.clean_png)
    assert mode == "RGB" and pixels.shape == (64, 64, 3)
    expected = np.rint((np.moveaxis(nchw, 0, -1) + 1) / 2 * 255).astype(np.uint8)
    np.testing.assert_array_equal(pixels[::16, ::16], expected)


def test_no_change_is_mid_gray_and_flat_images_are_black():
    flat = np.full((1, 8, 8), 0.3)
    example = _example(flat, flat.copy())
    assert example is not None
    assert np.all(_decode(example.perturbation_png)[1] == 128)
    assert np.all(_decode(example.clean_png)[1] == 0)


def test_large_images_are_not_enlarged():
    image = np.zeros((1, 100, 120))
    example = _example(image, image + 0.1)
    assert example is not None
    assert _decode(example.clean_png)[1].shape == (100, 120)


@pytest.mark.parametrize(
    ("shape", "layout"),
    [
        ((64,), "NCHW"),
        ((2, 8, 8), "NCHW"),
        ((8, 8, 2), "NHWC"),
        ((1, 1, 8, 8), "NCHW"),
        ((8, 8, 1), "NCHW"),
    ],
)
def test_non_images_give_none(shape, layout):
    x = np.zeros(shape)
    assert _example(x, x, layout) is None


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match="layout"):
        _example(np.zeros((8, 8)), np.zeros((8, 8)), "HWC")
    with pytest.raises(ValueError, match="shapes differ"):
        _example(np.zeros((8, 8)), np.zeros((8, 9)))
