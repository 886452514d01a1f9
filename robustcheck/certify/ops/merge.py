"""Ops with several variable inputs that stay linear: residual Add/Sub and Concat."""

from __future__ import annotations

import torch
from torch import Tensor

from robustcheck.certify.bounds import Bounds
from robustcheck.certify.ops import affine
from robustcheck.certify.ops.base import BoundRule, NodeContext, RuleRefused


def _unbroadcast(a: Tensor, shape: tuple[int, ...]) -> Tensor:
    """Coefficients ``[batch, spec, *out]`` summed down to a broadcast input's ``[batch, spec,
    *shape]`` (per-sample shapes, the batch axis excluded)."""
    extra = a.dim() - 2 - len(shape)
    if extra:
        a = a.sum(dim=tuple(range(2, 2 + extra)))
    dims = tuple(2 + i for i, size in enumerate(shape) if size == 1 and a.shape[2 + i] != 1)
    return a.sum(dim=dims, keepdim=True) if dims else a


class SignedSum:
    """``x0 + x1`` or ``x0 - x1`` of two variable tensors (a residual connection)."""

    needs_bounds = False

    def __init__(self, sign: float, shapes: tuple[tuple[int, ...], tuple[int, ...]]) -> None:
        self._sign = sign
        self._shapes = shapes

    def forward(self, *inputs: Tensor) -> Tensor:
        return inputs[0] + self._sign * inputs[1]

    def ibp(self, *inputs: Bounds) -> Bounds:
        (l0, u0), (l1, u1) = inputs
        if self._sign > 0:
            return Bounds(l0 + l1, u0 + u1)
        return Bounds(l0 - u1, u0 - l1)

    def linearize(self, *inputs: Bounds) -> SignedSum:
        return self

    def backward(self, a: Tensor) -> tuple[tuple[Tensor, ...], Tensor]:
        first = _unbroadcast(a, self._shapes[0])
        second = _unbroadcast(a, self._shapes[1]) * self._sign
        return (first, second), a.new_zeros(a.shape[:2])


def add(ctx: NodeContext) -> BoundRule:
    if len(ctx.variable_positions) == 1:
        return affine.add(ctx)
    return SignedSum(1.0, (ctx.variable_shapes[0], ctx.variable_shapes[1]))


def sub(ctx: NodeContext) -> BoundRule:
    if len(ctx.variable_positions) == 1:
        return affine.sub(ctx)
    return SignedSum(-1.0, (ctx.variable_shapes[0], ctx.variable_shapes[1]))


class Concat:
    """Concatenation of variable and constant pieces along a non-batch axis."""

    needs_bounds = False

    def __init__(self, pieces: list[Tensor | None], axis: int, widths: list[int]) -> None:
        """``pieces``: a constant (full rank, batch axis of size 1) or None for each variable
        input in order; ``axis`` indexes the full (batched) tensor; ``widths`` are the variable
        inputs' sizes along it."""
        self._pieces = pieces
        self._axis = axis
        supplied = iter(widths)
        self._sizes = [next(supplied) if p is None else p.shape[axis] for p in pieces]

    def _join(self, values: tuple[Tensor, ...]) -> Tensor:
        supplied = iter(values)
        batch = values[0].shape[0]
        parts = [
            next(supplied) if p is None else p.expand(batch, *p.shape[1:]) for p in self._pieces
        ]
        return torch.cat(parts, dim=self._axis)

    def forward(self, *inputs: Tensor) -> Tensor:
        return self._join(inputs)

    def ibp(self, *inputs: Bounds) -> Bounds:
        return Bounds(
            self._join(tuple(b.lower for b in inputs)), self._join(tuple(b.upper for b in inputs))
        )

    def linearize(self, *inputs: Bounds) -> Concat:
        return self

    def backward(self, a: Tensor) -> tuple[tuple[Tensor, ...], Tensor]:
        slices = torch.split(a, self._sizes, dim=self._axis + 1)
        bias = a.new_zeros(a.shape[:2])
        backs = []
        for piece, part in zip(self._pieces, slices, strict=True):
            if piece is None:
                backs.append(part)
            else:
                bias = bias + (part * piece.unsqueeze(1)).flatten(2).sum(-1)
        return tuple(backs), bias


def concat(ctx: NodeContext) -> Concat:
    variables = ctx.variable_positions
    rank = len(ctx.variable_shapes[0]) + 1
    axis = int(ctx.attributes["axis"])
    axis = axis + rank if axis < 0 else axis
    if axis == 0:
        raise RuleRefused("concatenates along the batch axis")
    pieces: list[Tensor | None] = []
    for i in range(len(ctx.inputs)):
        if i in variables:
            pieces.append(None)
            continue
        value = ctx.constant(i)
        assert value is not None
        if value.dim() != rank or value.shape[0] != 1:
            raise RuleRefused(f"constant input #{i} has no batch axis of size 1 to broadcast")
        pieces.append(value)
    return Concat(pieces, axis, [shape[axis - 1] for shape in ctx.variable_shapes])
