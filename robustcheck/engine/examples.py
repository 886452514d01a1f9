"""Picking the samples shown as images in the HTML report.

Per ε, one flipped sample per class (the first in file order), for at most ``MAX_EXAMPLES``
classes (the smallest labels): kept as a table that merges the same in any batch order, so the
choice does not depend on how the scan was split. After the policy is judged, the runner shows
the examples at the gating ε.
"""

from __future__ import annotations

import numpy as np

from robustcheck.metrics import correct_mask
from robustcheck.reports.examples import make_example
from robustcheck.reports.model import ExampleImage

MAX_EXAMPLES = 8

Examples = dict[float, dict[int, ExampleImage]]
"""ε → true class → the first flipped sample of that class."""


def image_layout(sample_shape: tuple[int, ...]) -> str:
    """A guess: channels last when the last axis looks like channels and the first does not."""
    if len(sample_shape) == 3 and sample_shape[-1] in (1, 3) and sample_shape[0] not in (1, 3):
        return "NHWC"
    return "NCHW"


def _wanted(
    slots: dict[int, ExampleImage], known: dict[int, ExampleImage], label: int, index: int
) -> bool:
    """Whether rendering this sample could change the merged table (``known``: earlier batches,
    whose samples come first in file order)."""
    held = slots.get(label) or known.get(label)
    if held is not None:
        return index < held.index
    labels = sorted(set(slots) | set(known))
    return len(labels) < MAX_EXAMPLES or label < labels[MAX_EXAMPLES - 1]


def collect_examples(
    examples: Examples,
    indices: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    clean_probs: np.ndarray,
    x_adv: np.ndarray,
    adv_probs: np.ndarray,
    eps: float,
    channel_order: str = "RGB",
    known: Examples | None = None,
) -> None:
    """Add this batch's first flipped sample of each class, where it improves the table."""
    slots = examples.setdefault(eps, {})
    earlier = (known or {}).get(eps, {})
    flipped = correct_mask(clean_probs, y) & ~correct_mask(adv_probs, y)
    layout = image_layout(tuple(x.shape[1:]))
    for i in np.flatnonzero(flipped):
        label, index = int(y[i]), int(indices[i])
        if not _wanted(slots, earlier, label, index):
            continue
        example = make_example(
            index, label, eps, x[i], x_adv[i],
            int(np.argmax(clean_probs[i])), float(np.max(clean_probs[i])),
            int(np.argmax(adv_probs[i])), float(np.max(adv_probs[i])), layout=layout,
            channel_order=channel_order,
        )  # fmt: skip
        if example is None:
            return  # not an image
        slots[label] = example
        _trim(slots)


def _trim(slots: dict[int, ExampleImage]) -> None:
    for label in sorted(slots)[MAX_EXAMPLES:]:
        del slots[label]


def merge_examples(a: Examples, b: Examples) -> Examples:
    out: Examples = {}
    for eps in sorted(set(a) | set(b)):
        slots = dict(a.get(eps, {}))
        for label, example in b.get(eps, {}).items():
            if label not in slots or example.index < slots[label].index:
                slots[label] = example
        _trim(slots)
        out[eps] = slots
    return out


def shown(examples: Examples, eps: float | None) -> list[ExampleImage]:
    """The examples at ``eps`` (else the largest ε that has any), ordered by class."""
    filled = [e for e in sorted(examples) if examples[e]]
    if not filled:
        return []
    chosen = eps if eps in filled else filled[-1]
    return [examples[chosen][label] for label in sorted(examples[chosen])]
