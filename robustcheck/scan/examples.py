"""Picking the samples shown as images in the HTML report."""

from __future__ import annotations

import numpy as np

from robustcheck.metrics import correct_mask
from robustcheck.reports.examples import make_example
from robustcheck.reports.model import ExampleImage

MAX_EXAMPLES = 8


def image_layout(sample_shape: tuple[int, ...]) -> str:
    """A guess: channels last when the last axis looks like channels and the first does not."""
    if len(sample_shape) == 3 and sample_shape[-1] in (1, 3) and sample_shape[0] not in (1, 3):
        return "NHWC"
    return "NCHW"


def collect_examples(
    examples: list[ExampleImage],
    indices: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    clean_probs: np.ndarray,
    x_adv: np.ndarray,
    adv_probs: np.ndarray,
    eps: float,
    limit: int = MAX_EXAMPLES,
) -> None:
    """Append the first samples the attack flipped, up to ``limit`` in all."""
    if len(examples) >= limit:
        return
    flipped = correct_mask(clean_probs, y) & ~correct_mask(adv_probs, y)
    layout = image_layout(tuple(x.shape[1:]))
    for i in np.flatnonzero(flipped)[: limit - len(examples)]:
        example = make_example(
            int(indices[i]), int(y[i]), eps, x[i], x_adv[i],
            int(np.argmax(clean_probs[i])), float(np.max(clean_probs[i])),
            int(np.argmax(adv_probs[i])), float(np.max(adv_probs[i])), layout=layout,
        )  # fmt: skip
        if example is None:
            return
        examples.append(example)
