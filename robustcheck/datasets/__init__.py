"""Small labelled data shipped inside the package, so the demo works after a plain install.

``digits.npz`` is the UCI "Optical Recognition of Handwritten Digits" test set (E. Alpaydin and
C. Kaynak, 1998; CC BY 4.0), the same 1,797 images scikit-learn bundles as ``load_digits``:
8×8 images of integer pixels in 0..16 and their labels 0..9 (45 KB). See ``NOTICE`` beside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

import numpy as np

__all__ = ["Digits", "load_digits"]


@dataclass(frozen=True)
class Digits:
    images: np.ndarray
    """``uint8 [1797, 8, 8]``, pixels in 0..16."""
    target: np.ndarray
    """``int64 [1797]``, labels 0..9."""


def load_digits() -> Digits:
    """The bundled digits, read from the installed package (no download, no scikit-learn)."""
    packaged = resources.files(__name__).joinpath("digits.npz")
    with packaged.open("rb") as handle, np.load(handle, allow_pickle=False) as archive:
        images, target = archive["images"], archive["target"]
    return Digits(images=images.astype(np.uint8), target=target.astype(np.int64))
