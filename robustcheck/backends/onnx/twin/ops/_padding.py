"""Window geometry shared by convolutions and pooling: auto_pad, explicit pads, ceil_mode."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Window:
    """Per spatial axis: padding before, padding after, and the output length."""

    begins: list[int]
    declared_ends: list[int]
    """The padding after the input as the model states it (or auto_pad implies)."""
    ends: list[int]
    """The padding after the input the windows actually reach (see :func:`window`)."""
    outputs: list[int]


def effective_kernel(kernel: Sequence[int], dilations: Sequence[int]) -> list[int]:
    return [(k - 1) * d + 1 for k, d in zip(kernel, dilations, strict=True)]


def split_pads(pads: Sequence[int] | None, rank: int) -> tuple[list[int], list[int]]:
    """ONNX lists all begins then all ends: ``[x1_begin, x2_begin, ..., x1_end, x2_end, ...]``."""
    if not pads:
        return [0] * rank, [0] * rank
    return list(pads[:rank]), list(pads[rank:])


def _same_pads(size: int, kernel: int, stride: int, upper: bool) -> tuple[int, int]:
    output = -(-size // stride)
    total = max(0, (output - 1) * stride + kernel - size)
    small, large = total // 2, total - total // 2
    return (small, large) if upper else (large, small)


def window(
    sizes: Sequence[int],
    kernel: Sequence[int],
    strides: Sequence[int],
    auto_pad: str,
    pads: Sequence[int] | None,
    ceil_mode: bool = False,
) -> Window:
    """Pads and output lengths the ONNX way for an already-dilated ``kernel``.

    ``ends`` is the padding after the input that the windows actually reach: with
    ``ceil_mode`` it can exceed the declared pads (a last, partial window), and it is
    trimmed when the declared pads are never reached.
    """
    rank = len(sizes)
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        pairs = [
            _same_pads(n, k, s, auto_pad == "SAME_UPPER")
            for n, k, s in zip(sizes, kernel, strides, strict=True)
        ]
        begins, declared = [p[0] for p in pairs], [p[1] for p in pairs]
    elif auto_pad == "VALID":
        begins, declared = [0] * rank, [0] * rank
    elif auto_pad == "NOTSET":
        begins, declared = split_pads(pads, rank)
    else:
        raise ValueError(f"unknown auto_pad {auto_pad!r}")
    outputs = []
    for n, k, s, b, e in zip(sizes, kernel, strides, begins, declared, strict=True):
        span = (n + b + e - k) / s
        count = (math.ceil(span) if ceil_mode else math.floor(span)) + 1
        if ceil_mode and (count - 1) * s >= n + b:
            # A window may not start in the end padding (ONNX and PyTorch agree on this).
            count -= 1
        outputs.append(max(count, 0))
    ends = [
        (count - 1) * s + k - n - b
        for n, k, s, b, count in zip(sizes, kernel, strides, begins, outputs, strict=True)
    ]
    return Window(begins=begins, declared_ends=declared, ends=ends, outputs=outputs)


def torch_pad(begins: Sequence[int], ends: Sequence[int]) -> list[int]:
    """``torch.nn.functional.pad`` order: last axis first, (before, after) per axis."""
    order: list[int] = []
    for b, e in zip(reversed(begins), reversed(ends), strict=True):
        order += [b, e]
    return order
