"""Ops that are affine in their one variable input: ``f(x) = L(x) + c``.

IBP takes the centre through ``f`` and the radius through ``|L|`` (the op with absolute weights),
or, where ``L`` has no negative coefficient (reshapes, pooling, padding), simply ``f(lower)`` and
``f(upper)``. CROWN's backward step is the vector-Jacobian product of ``L`` (autograd through the
op itself on a batch of ``batch × spec``) unless the rule knows a cheaper transpose; the
constant is ``a · f(0)``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from robustcheck.certify.bounds import Bounds
from robustcheck.certify.ops.base import NodeContext, RuleRefused

Map = Callable[[Tensor], Tensor]


class Affine:
    """A rule for any op affine in its variable input (see the module docstring)."""

    needs_bounds = False

    def __init__(
        self,
        forward: Map,
        input_shape: tuple[int, ...],
        *,
        magnitude: Map | None = None,
        transpose: Map | None = None,
    ) -> None:
        """``magnitude(r)`` is ``|L|(r)``; None declares ``L`` monotone (no negative
        coefficient). ``transpose(a)`` maps output coefficients ``[n, *output]`` to input ones;
        None uses autograd."""
        self._forward = forward
        self._input_shape = input_shape
        self._magnitude = magnitude
        self._transpose = transpose
        zero = torch.zeros((1, *input_shape), dtype=torch.float64)
        self._offset = forward(zero).detach()

    def forward(self, *inputs: Tensor) -> Tensor:
        return self._forward(inputs[0])

    def ibp(self, *inputs: Bounds) -> Bounds:
        lower, upper = inputs[0]
        if self._magnitude is None:
            return Bounds(self._forward(lower), self._forward(upper))
        centre = self._forward((lower + upper) / 2)
        radius = self._magnitude((upper - lower) / 2)
        return Bounds(centre - radius, centre + radius)

    def linearize(self, *inputs: Bounds) -> Affine:
        return self

    def backward(self, a: Tensor) -> tuple[tuple[Tensor, ...], Tensor]:
        batch, spec = a.shape[:2]
        offset = self._offset.to(a.device)
        bias = (a * offset.unsqueeze(1)).flatten(2).sum(-1)
        flat = a.reshape(batch * spec, *a.shape[2:])
        if self._transpose is not None:
            back = self._transpose(flat)
        else:
            back = _vjp(self._forward, flat, self._input_shape)
        return (back.reshape(batch, spec, *self._input_shape),), bias


def _vjp(forward: Map, cotangent: Tensor, input_shape: tuple[int, ...]) -> Tensor:
    with torch.enable_grad():
        x = torch.zeros(
            (cotangent.shape[0], *input_shape), dtype=cotangent.dtype, device=cotangent.device
        )
        x.requires_grad_(True)
        (grad,) = torch.autograd.grad(forward(x), x, cotangent)
    return grad


def _only_variable(ctx: NodeContext, position: int = 0) -> tuple[int, ...]:
    positions = ctx.variable_positions
    if positions != [position]:
        raise RuleRefused(
            f"only input #{position} may depend on the model input (inputs {positions} do)"
        )
    return ctx.variable_shapes[0]


def monotone(ctx: NodeContext) -> Affine:
    """Ops whose linear part only copies, sums or averages (Identity, Slice, Pad, Transpose,
    AveragePool, ...): IBP is exact on them."""
    shape = _only_variable(ctx)
    return Affine(lambda x: ctx.call_with([x]), shape)


def gemm(ctx: NodeContext) -> Affine:
    shape = _only_variable(ctx)
    attrs = ctx.attributes
    if attrs.get("transA", 0):
        raise RuleRefused("transA=1 would mix the batch axis into the product")
    weight = ctx.constant(1)
    assert weight is not None
    weight = (weight.T if attrs.get("transB", 0) else weight) * float(attrs.get("alpha", 1.0))
    c = ctx.constant(2)
    bias = c * float(attrs.get("beta", 1.0)) if c is not None else torch.zeros(())
    return Affine(
        lambda x: x @ weight + bias,
        shape,
        magnitude=lambda r: r @ weight.abs(),
        transpose=lambda a: a @ weight.T,
    )


def matmul(ctx: NodeContext) -> Affine:
    positions = ctx.variable_positions
    if len(positions) != 1:
        raise RuleRefused("multiplies two input-dependent tensors (not linear)")
    shape = ctx.variable_shapes[0]
    if positions == [0]:
        weight = ctx.constant(1)
        assert weight is not None
        return Affine(lambda x: x @ weight, shape, magnitude=lambda r: r @ weight.abs())
    left = ctx.constant(0)
    assert left is not None
    return Affine(lambda x: left @ x, shape, magnitude=lambda r: left.abs() @ r)


def conv(ctx: NodeContext) -> Affine:
    """Conv and ConvTranspose: the interpreter's own op, with ``|W|`` and no bias for IBP."""
    shape = _only_variable(ctx)
    weight = ctx.constant(1)
    assert weight is not None
    magnitude = weight.abs()
    return Affine(
        lambda x: ctx.call_with([x]), shape, magnitude=lambda r: ctx.evaluate(r, magnitude)
    )


def batch_normalization(ctx: NodeContext) -> Affine:
    """Inference form: one scale and shift per channel (axis 1 of the full tensor)."""
    shape = _only_variable(ctx)
    if ctx.attributes.get("training_mode", 0):
        raise RuleRefused("training_mode=1 normalizes with batch statistics")
    gamma, beta, mean, var = (ctx.constant(i) for i in range(1, 5))
    assert gamma is not None and beta is not None and mean is not None and var is not None
    channel = (-1,) + (1,) * (len(shape) - 1)
    scale = gamma / torch.sqrt(var + float(ctx.attributes.get("epsilon", 1e-5)))
    shift = (beta - mean * scale).reshape(channel)
    scale = scale.reshape(channel)
    return Affine(
        lambda x: x * scale + shift,
        shape,
        magnitude=lambda r: r * scale.abs(),
        transpose=lambda a: a * scale,
    )


def add(ctx: NodeContext) -> Affine:
    constant = _other_constant(ctx)
    return Affine(lambda x: x + constant, ctx.variable_shapes[0])


def sub(ctx: NodeContext) -> Affine:
    constant = _other_constant(ctx)
    if ctx.variable_positions == [0]:
        return Affine(lambda x: x - constant, ctx.variable_shapes[0])
    return Affine(lambda x: constant - x, ctx.variable_shapes[0], magnitude=lambda r: r)


def mul(ctx: NodeContext) -> Affine:
    constant = _other_constant(ctx)
    return Affine(
        lambda x: x * constant, ctx.variable_shapes[0], magnitude=lambda r: r * constant.abs()
    )


def div(ctx: NodeContext) -> Affine:
    if ctx.variable_positions != [0]:
        raise RuleRefused("divides by an input-dependent tensor (not linear)")
    constant = _other_constant(ctx)
    return Affine(
        lambda x: x / constant, ctx.variable_shapes[0], magnitude=lambda r: r / constant.abs()
    )


def neg(ctx: NodeContext) -> Affine:
    return Affine(lambda x: -x, _only_variable(ctx), magnitude=lambda r: r)


def _other_constant(ctx: NodeContext) -> Tensor:
    positions = ctx.variable_positions
    if len(positions) != 1:
        raise RuleRefused("combines two input-dependent tensors (not linear)")
    constant = ctx.constant(1 - positions[0])
    assert constant is not None
    return constant
