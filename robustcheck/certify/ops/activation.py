"""Elementwise nonlinear ops and their sound linear relaxations (CROWN, Zhang et al. 2018,
https://arxiv.org/abs/1811.00866).

Each relaxation gives, per neuron with pre-activation in ``[lo, hi]``, two lines
``lw·x + lb <= f(x) <= uw·x + ub`` valid on the whole interval. All functions here are
monotone nondecreasing, so IBP is ``f(lo), f(hi)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor

from robustcheck.certify.bounds import Bounds
from robustcheck.certify.ops.base import NodeContext, RuleRefused

_NARROW = 1e-9
"""Intervals narrower than this get constant bounds ``f(lo), f(hi)``: a chord's slope over them
would be all rounding error."""
_SEARCH_STEPS = 40


class Lines(NamedTuple):
    lower_slope: Tensor
    lower_bias: Tensor
    upper_slope: Tensor
    upper_bias: Tensor


class Relaxation:
    """The backward step through a relaxed elementwise op: a positive coefficient takes the
    lower line, a negative one the upper line."""

    def __init__(self, lines: Lines) -> None:
        self._lines = Lines(*(t.unsqueeze(1) for t in lines))

    def backward(self, a: Tensor) -> tuple[tuple[Tensor, ...], Tensor]:
        positive, negative = a.clamp(min=0), a.clamp(max=0)
        lw, lb, uw, ub = self._lines
        back = positive * lw + negative * uw
        bias = (positive * lb + negative * ub).flatten(2).sum(-1)
        return (back,), bias


class Elementwise:
    """A monotone elementwise op with a relaxation function ``relax(lo, hi) -> Lines``."""

    needs_bounds = True

    def __init__(
        self,
        fn: Callable[[Tensor], Tensor],
        relax: Callable[[Tensor, Tensor], Lines],
        *,
        kink: bool = False,
    ) -> None:
        """``kink``: the function is linear on each side of 0, so a neuron whose bounds do not
        straddle 0 is relaxed exactly."""
        self._fn = fn
        self._relax = relax
        self._kink = kink

    def unstable(self, bounds: Bounds) -> Tensor:
        if self._kink:
            return (bounds.lower < 0) & (bounds.upper > 0)
        return torch.ones_like(bounds.lower, dtype=torch.bool)

    def forward(self, *inputs: Tensor) -> Tensor:
        return self._fn(inputs[0])

    def ibp(self, *inputs: Bounds) -> Bounds:
        return Bounds(self._fn(inputs[0].lower), self._fn(inputs[0].upper))

    def linearize(self, *inputs: Bounds) -> Relaxation:
        return Relaxation(self._relax(inputs[0].lower, inputs[0].upper))


def _piecewise_linear(lo: Tensor, hi: Tensor, slope: float) -> Lines:
    """``max(x, slope·x)`` for ``0 <= slope <= 1`` (ReLU: slope 0): convex, so the chord is the
    upper line; the lower line is whichever of ``x`` and ``slope·x`` loses less area."""
    active, dead = lo >= 0, hi <= 0
    unstable = ~(active | dead)
    width = torch.where(unstable, hi - lo, torch.ones_like(hi))
    chord = torch.where(unstable, (hi - slope * lo) / width, torch.where(active, 1.0, slope))
    chord_bias = torch.where(unstable, hi - chord * hi, torch.zeros_like(hi))
    lower = torch.where(active | (unstable & (hi >= -lo)), 1.0, slope).to(lo.dtype)
    return Lines(lower, torch.zeros_like(lo), chord.to(lo.dtype), chord_bias)


def relu(ctx: NodeContext) -> Elementwise:
    return Elementwise(torch.relu, lambda lo, hi: _piecewise_linear(lo, hi, 0.0), kink=True)


def leaky_relu(ctx: NodeContext) -> Elementwise:
    alpha = float(ctx.attributes.get("alpha", 0.01))
    if not 0.0 <= alpha <= 1.0:
        raise RuleRefused(f"alpha={alpha} is outside [0, 1] (the relaxation assumes convexity)")
    return Elementwise(
        lambda x: torch.nn.functional.leaky_relu(x, alpha),
        lambda lo, hi: _piecewise_linear(lo, hi, alpha),
        kink=True,
    )


def _tangent(fn: Callable[[Tensor], Tensor], grad: Callable[[Tensor], Tensor], d: Tensor):
    slope = grad(d)
    return slope, fn(d) - slope * d


def _s_shaped(
    fn: Callable[[Tensor], Tensor], grad: Callable[[Tensor], Tensor]
) -> Callable[[Tensor, Tensor], Lines]:
    """Relaxation of a sigmoid-like function: convex below 0, concave above.

    Where the interval straddles 0 and the chord is not a valid bound, the line is the tangent at
    ``d`` that passes through the far end point; ``d`` is found by bisection, keeping the end of
    the bracket on which the line stays on the safe side of that end point, so the line is
    sound however few steps are taken.
    """

    def relax(lo: Tensor, hi: Tensor) -> Lines:
        fl, fu = fn(lo), fn(hi)
        narrow = (hi - lo) < _NARROW
        width = torch.where(narrow, torch.ones_like(hi), hi - lo)
        k = (fu - fl) / width
        chord_bias = fl - k * lo
        mid_slope, mid_bias = _tangent(fn, grad, (lo + hi) / 2)
        convex, concave = hi <= 0, lo >= 0
        # Upper line.
        up_point = _bisect(
            fn, grad, anchor=lo, inside=torch.zeros_like(hi), outside=hi.clamp(min=0)
        )
        up_slope, up_bias = _tangent(fn, grad, up_point)
        chord_up = convex | (~concave & (k <= grad(hi)))
        uw = torch.where(chord_up, k, torch.where(concave, mid_slope, up_slope))
        ub = torch.where(chord_up, chord_bias, torch.where(concave, mid_bias, up_bias))
        # Lower line (the mirror image).
        down_point = _bisect(
            fn, grad, anchor=hi, inside=torch.zeros_like(lo), outside=lo.clamp(max=0)
        )
        lo_slope, lo_bias = _tangent(fn, grad, down_point)
        chord_lo = concave | (~convex & (k <= grad(lo)))
        lw = torch.where(chord_lo, k, torch.where(convex, mid_slope, lo_slope))
        lb = torch.where(chord_lo, chord_bias, torch.where(convex, mid_bias, lo_bias))
        zero = torch.zeros_like(lo)
        return Lines(
            torch.where(narrow, zero, lw),
            torch.where(narrow, fl, lb),
            torch.where(narrow, zero, uw),
            torch.where(narrow, fu, ub),
        )

    return relax


def _bisect(
    fn: Callable[[Tensor], Tensor],
    grad: Callable[[Tensor], Tensor],
    anchor: Tensor,
    inside: Tensor,
    outside: Tensor,
) -> Tensor:
    """A tangent point ``d`` between ``inside`` (0) and ``outside`` whose tangent line passes on
    the safe side of ``(anchor, fn(anchor))``: above it when ``anchor < 0`` (upper lines), below
    it when ``anchor > 0`` (lower lines). ``outside`` is always safe where it matters (the chord
    test failed there), so the search returns the last safe point, never an unsafe one."""
    target = fn(anchor)
    side = torch.where(anchor < 0, 1.0, -1.0).to(anchor.dtype)
    safe, unsafe = outside, inside
    for _ in range(_SEARCH_STEPS):
        d = (safe + unsafe) / 2
        slope, bias = _tangent(fn, grad, d)
        ok = side * (slope * anchor + bias - target) >= 0
        safe = torch.where(ok, d, safe)
        unsafe = torch.where(ok, unsafe, d)
    return safe


def _sigmoid_grad(x: Tensor) -> Tensor:
    s = torch.sigmoid(x)
    return s * (1 - s)


def _tanh_grad(x: Tensor) -> Tensor:
    return 1 - torch.tanh(x) ** 2


def sigmoid(ctx: NodeContext) -> Elementwise:
    return Elementwise(torch.sigmoid, _s_shaped(torch.sigmoid, _sigmoid_grad))


def tanh(ctx: NodeContext) -> Elementwise:
    return Elementwise(torch.tanh, _s_shaped(torch.tanh, _tanh_grad))
