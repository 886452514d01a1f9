"""Ops that only move values: reshapes keep the batch axis and reshape the rest."""

from __future__ import annotations

import torch

from robustcheck.certify.ops.affine import Affine, monotone
from robustcheck.certify.ops.base import NodeContext, RuleRefused


def reshape(ctx: NodeContext) -> Affine:
    """Reshape, Flatten, Squeeze, Unsqueeze: the target is resolved once, at the model's nominal
    batch size, and must keep that batch axis in front; each sample is then reshaped alone."""
    if len(ctx.variable_positions) != 1 or ctx.variable_positions[0] != 0:
        raise RuleRefused("the shape must be a constant")
    shape = ctx.variable_shapes[0]
    batch = ctx.nominal_batch
    out = ctx.call_with([torch.zeros((batch, *shape), dtype=torch.float64)]).shape
    if not out or out[0] != batch:
        raise RuleRefused(
            f"reshapes a batch of {batch} to {list(out)}, which does not keep the batch axis"
        )
    target = tuple(out[1:])
    return Affine(lambda x: x.reshape(x.shape[0], *target), shape)


def transpose(ctx: NodeContext) -> Affine:
    perm = ctx.attributes.get("perm")
    if perm is None or perm[0] != 0:
        raise RuleRefused("moves the batch axis (perm must start with 0)")
    return monotone(ctx)


def dropout(ctx: NodeContext) -> Affine:
    training = ctx.constant(2) if len(ctx.inputs) > 2 else None
    if training is not None and bool(training.item()):
        raise RuleRefused("training_mode is true")
    return Affine(lambda x: x, ctx.variable_shapes[0])
