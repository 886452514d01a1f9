"""Example images for the HTML report: clean, perturbation and adversarial side by side."""

from __future__ import annotations

import base64
import io
import math

import numpy as np
from PIL import Image

from robustcheck.reports.model import ExampleImage
from robustcheck.vocabulary import LAYOUTS

MIN_SIDE = 64
"""Small images (8×8 digits) are enlarged by an integer factor until their short side reaches this."""
MAX_SIDE = 1024
"""…unless that would make the long side exceed this."""


def make_example(
    index: int,
    label: int,
    eps: float,
    clean: np.ndarray,
    adversarial: np.ndarray,
    clean_pred: int,
    clean_conf: float,
    adv_pred: int,
    adv_conf: float,
    layout: str = "NCHW",
    channel_order: str = "RGB",
) -> ExampleImage | None:
    """One sample's images as PNGs, or None when the sample is not an image.

    ``clean`` and ``adversarial`` are one sample without its batch axis: (H, W), or three axes
    with 1 or 3 channels placed as ``layout`` says (channels first for NCHW, last for NHWC).
    Both are scaled to 0..255 with one shared range so their brightness compares; the
    perturbation is scaled symmetrically with mid-gray (128) as zero.
    """
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, not {layout!r}")
    clean = np.asarray(clean, dtype=np.float64)
    adversarial = np.asarray(adversarial, dtype=np.float64)
    if clean.shape != adversarial.shape:
        raise ValueError(
            f"clean and adversarial shapes differ: {clean.shape} vs {adversarial.shape}"
        )
    clean_hwc, adv_hwc = _as_hwc(clean, layout), _as_hwc(adversarial, layout)
    if clean_hwc is None or adv_hwc is None:
        return None
    if channel_order == "BGR" and clean_hwc.shape[2] == 3:  # shown as RGB, whatever the model reads
        clean_hwc, adv_hwc = clean_hwc[:, :, ::-1], adv_hwc[:, :, ::-1]
    clean_px, adv_px = _shared_scale(clean_hwc, adv_hwc)
    return ExampleImage(
        index=index,
        label=label,
        eps=eps,
        clean_prediction=clean_pred,
        clean_confidence=clean_conf,
        adversarial_prediction=adv_pred,
        adversarial_confidence=adv_conf,
        clean_png=_png_base64(clean_px),
        perturbation_png=_png_base64(_signed_scale(adv_hwc - clean_hwc)),
        adversarial_png=_png_base64(adv_px),
    )


def _as_hwc(x: np.ndarray, layout: str) -> np.ndarray | None:
    if x.ndim == 2:
        hwc = x[:, :, None]
    elif x.ndim == 3:
        hwc = np.moveaxis(x, 0, -1) if layout == "NCHW" else x
        if hwc.shape[2] not in (1, 3):
            return None
    else:
        return None
    if hwc.shape[0] == 0 or hwc.shape[1] == 0:
        return None
    return np.nan_to_num(hwc, nan=0.0, posinf=0.0, neginf=0.0)


def _shared_scale(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lo = min(float(a.min()), float(b.min()))
    hi = max(float(a.max()), float(b.max()))
    span = hi - lo
    if span <= 0:
        zeros = np.zeros(a.shape, np.uint8)
        return zeros, zeros.copy()
    return _to_uint8((a - lo) / span * 255), _to_uint8((b - lo) / span * 255)


def _signed_scale(delta: np.ndarray) -> np.ndarray:
    peak = float(np.abs(delta).max())
    if peak <= 0:
        return np.full(delta.shape, 128, np.uint8)
    return _to_uint8(128 + delta / peak * 127)


def _to_uint8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def _upscale(pixels: np.ndarray) -> np.ndarray:
    height, width = pixels.shape[:2]
    factor = math.ceil(MIN_SIDE / min(height, width))
    factor = max(1, min(factor, MAX_SIDE // max(height, width)))
    if factor == 1:
        return pixels
    return np.repeat(np.repeat(pixels, factor, axis=0), factor, axis=1)


def encode_png(pixels: np.ndarray) -> bytes:
    """``uint8`` pixels of shape (H, W) (grayscale) or (H, W, 3) (RGB) as a PNG file.

    Deterministic: the same pixels give the same bytes (Pillow writes no time or metadata chunk;
    the compressed stream depends only on the pixels and the zlib build).
    """
    if pixels.dtype != np.uint8:
        raise ValueError(f"PNG pixels must be uint8, not {pixels.dtype}")
    if not (pixels.ndim == 2 or (pixels.ndim == 3 and pixels.shape[2] == 3)):
        raise ValueError(f"PNG pixels must have shape (H, W) or (H, W, 3), not {pixels.shape}")
    if pixels.shape[0] == 0 or pixels.shape[1] == 0:
        raise ValueError("a PNG needs at least one pixel")
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels)).save(buffer, format="PNG", compress_level=9)
    return buffer.getvalue()


def _png_base64(hwc: np.ndarray) -> str:
    pixels = _upscale(hwc[:, :, 0] if hwc.shape[2] == 1 else hwc)
    return base64.b64encode(encode_png(pixels)).decode("ascii")
