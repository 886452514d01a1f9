"""MaxPool: a sound linear relaxation per window.

The lower line is the input whose lower bound is largest in the window (``max >= x_i*`` always).
The upper line is that same input where its lower bound is at least every other input's upper
bound (it is then the maximum everywhere in the box), else the constant ``max`` of the upper
bounds. IBP is exact: the op is monotone.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from robustcheck.certify.bounds import Bounds
from robustcheck.certify.ops.base import NodeContext, RuleRefused


class MaxPool:
    needs_bounds = True

    def __init__(self, ctx: NodeContext, windows: Tensor, input_shape: tuple[int, ...]) -> None:
        """``windows[q, k]``: the flat spatial position of slot ``k`` of output window ``q``, or
        the sentinel ``positions`` for padding."""
        self._ctx = ctx
        self._windows = windows
        self._input_shape = input_shape

    def forward(self, *inputs: Tensor) -> Tensor:
        return self._ctx.call_with([inputs[0]])

    def ibp(self, *inputs: Bounds) -> Bounds:
        return Bounds(self.forward(inputs[0].lower), self.forward(inputs[0].upper))

    def unstable(self, bounds: Bounds) -> Tensor:
        return torch.ones_like(bounds.lower, dtype=torch.bool)

    def _gather(self, x: Tensor) -> Tensor:
        flat = x.flatten(2)
        pad = flat.new_full((*flat.shape[:2], 1), float("-inf"))
        return torch.cat([flat, pad], dim=2)[:, :, self._windows]

    def linearize(self, *inputs: Bounds) -> MaxPoolRelaxation:
        lower, upper = self._gather(inputs[0].lower), self._gather(inputs[0].upper)
        best_lower, best = lower.max(dim=-1)
        others = upper.scatter(-1, best.unsqueeze(-1), float("-inf")).amax(dim=-1)
        dominant = best_lower >= others
        positions = self._windows.to(best.device)[
            torch.arange(self._windows.shape[0], device=best.device), best
        ]
        return MaxPoolRelaxation(positions, dominant, upper.amax(dim=-1), self._input_shape)


class MaxPoolRelaxation:
    def __init__(
        self, positions: Tensor, dominant: Tensor, top: Tensor, input_shape: tuple[int, ...]
    ) -> None:
        self._positions = positions.unsqueeze(1)  # [batch, 1, channels, windows]
        self._dominant = dominant.unsqueeze(1)
        self._top = top.unsqueeze(1)
        self._input_shape = input_shape

    def backward(self, a: Tensor) -> tuple[tuple[Tensor, ...], Tensor]:
        batch, spec, channels = a.shape[:3]
        a = a.flatten(3)
        positive, negative = a.clamp(min=0), a.clamp(max=0)
        through = positive + torch.where(self._dominant, negative, 0.0)
        bias = torch.where(self._dominant, 0.0, negative * self._top).flatten(2).sum(-1)
        spatial = math.prod(self._input_shape[1:])
        back = a.new_zeros(batch, spec, channels, spatial + 1)
        index = self._positions.expand(batch, spec, channels, -1)
        back.scatter_add_(-1, index, through)
        return (back[..., :spatial].reshape(batch, spec, *self._input_shape),), bias


def max_pool(ctx: NodeContext) -> MaxPool:
    if len(ctx.variable_positions) != 1:
        raise RuleRefused("expects one input")
    attrs = ctx.attributes
    shape = ctx.variable_shapes[0]
    spatial = list(shape[1:])
    kernel = list(attrs["kernel_shape"])
    rank = len(kernel)
    if attrs.get("auto_pad", "NOTSET") not in ("NOTSET", "VALID"):
        raise RuleRefused(f"auto_pad={attrs['auto_pad']} (explicit pads only)")
    strides = list(attrs.get("strides") or [1] * rank)
    dilations = list(attrs.get("dilations") or [1] * rank)
    pads = list(attrs.get("pads") or [0] * (2 * rank))
    if attrs.get("auto_pad", "NOTSET") == "VALID":
        pads = [0] * (2 * rank)
    out = ctx.call_with([torch.zeros((1, *shape), dtype=torch.float64)]).shape[2:]
    positions = math.prod(spatial)
    index = torch.arange(positions, dtype=torch.float64).reshape(1, 1, *spatial)
    grid = F.pad(index, _torch_pad(pads, rank), value=float(positions))[0, 0]
    for axis in range(rank):
        reach = dilations[axis] * (kernel[axis] - 1) + 1
        needed = (out[axis] - 1) * strides[axis] + reach
        if grid.shape[axis] < needed:
            extra = [0, 0] * rank
            extra[2 * (rank - 1 - axis) + 1] = needed - grid.shape[axis]
            grid = F.pad(grid[None, None], extra, value=float(positions))[0, 0]
        grid = grid.narrow(axis, 0, needed)
    for axis in range(rank):
        reach = dilations[axis] * (kernel[axis] - 1) + 1
        grid = grid.unfold(axis, reach, strides[axis])
        grid = grid[..., :: dilations[axis]]
    # grid is now [*out, *kernel] after the unfolds moved each window axis to the end.
    windows = grid.reshape(math.prod(out), math.prod(kernel)).to(torch.int64)
    return MaxPool(ctx, windows, tuple(shape))


def _torch_pad(pads: list[int], rank: int) -> list[int]:
    """ONNX ``[b0, b1, ..., e0, e1, ...]`` to F.pad's last-axis-first ``[b_last, e_last, ...]``."""
    result: list[int] = []
    for axis in reversed(range(rank)):
        result += [pads[axis], pads[axis + rank]]
    return result
