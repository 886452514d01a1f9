"""Pad in its attribute form (opset 2) and input form (opset 11, axes from 18, wrap from 19)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from robustcheck.backends.onnx.twin.ops._axes import as_ints, normalize_axes
from robustcheck.backends.onnx.twin.ops._padding import torch_pad
from robustcheck.backends.onnx.twin.registry import op


def _source_positions(
    length: int, before: int, after: int, mode: str, device: torch.device
) -> Tensor:
    """For each position of the padded axis, the input position it copies."""
    positions = torch.arange(-before, length + after, device=device)
    if mode == "edge":
        return positions.clamp(0, length - 1)
    if mode == "reflect":
        positions = positions.abs()
        return torch.where(positions >= length, 2 * (length - 1) - positions, positions)
    if mode == "wrap":
        return positions.remainder(length)
    raise ValueError(f"unknown Pad mode {mode!r}")


def _pad(
    x: Tensor, pads: Sequence[int], mode: str, value: float, axes: Sequence[int] | None
) -> Tensor:
    axes = normalize_axes(axes, x.dim()) if axes else list(range(x.dim()))
    begins = [0] * x.dim()
    ends = [0] * x.dim()
    for position, axis in enumerate(axes):
        begins[axis], ends[axis] = pads[position], pads[position + len(axes)]
    if mode == "constant":
        return F.pad(x, torch_pad(begins, ends), value=value)
    for axis in range(x.dim()):
        before, after = begins[axis], ends[axis]
        if before == 0 and after == 0:
            continue
        # Negative pads crop; one index_select then builds every non-constant mode.
        x = x.narrow(axis, max(-before, 0), x.shape[axis] - max(-before, 0) - max(-after, 0))
        source = _source_positions(x.shape[axis], max(before, 0), max(after, 0), mode, x.device)
        x = x.index_select(axis, source)
    return x


@op("Pad", 2)
def pad_2(x: Tensor, *, mode: str = "constant", pads: Sequence[int], value: float = 0.0) -> Tensor:
    return _pad(x, pads, mode, value, None)


@op("Pad", 11)
@op("Pad", 18)
@op("Pad", 19)
def pad_11(
    x: Tensor,
    pads: Tensor,
    constant_value: Tensor | None = None,
    axes: Tensor | None = None,
    *,
    mode: str = "constant",
) -> Tensor:
    value = constant_value.reshape(-1)[0].item() if constant_value is not None else 0
    return _pad(x, as_ints(pads) or [], mode, value, as_ints(axes))
