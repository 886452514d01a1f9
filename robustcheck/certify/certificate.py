"""Certified robustness of a batch of samples: sound lower bounds on every margin over an L∞ box.

A sample ``x`` with label ``y`` is certified at budget ``ε`` when, for every ``x'`` in the box
``[max(x − ε, lo), min(x + ε, hi)]`` and every class ``j ≠ y``, the bound proves
``logit_y(x') − logit_j(x') > tolerance``. Bounds are computed in float64 on the model's own
weights. The tolerance, ``rtol · (1 + max_k |logit_k(x)|)`` per sample (``rtol`` 1e-5 by
default), keeps a proof at the boundary from being broken by the float32 rounding of the
runtime that serves the model (about 1e-7 of the logit scale per op): a margin bound inside it
is not counted as a proof.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from robustcheck.certify import crown
from robustcheck.certify.bounds import Bounds, concretize_lower
from robustcheck.certify.graph import BoundGraph
from robustcheck.certify.ibp import interval_bounds
from robustcheck.errors import UsageError

Method = Literal["ibp", "crown"]
RELATIVE_TOLERANCE = 1e-5
DEFAULT_MAX_ELEMENTS = 2**24
"""The largest coefficient tensor one chunk of samples may hold (float64: 128 MiB)."""


@dataclass(frozen=True)
class Certificate:
    method: Method
    margins: Tensor
    """``[n, classes]``: a lower bound on ``logit_y − logit_j`` over the box; ``+inf`` at ``y``."""
    worst: Tensor
    """``[n]``: the lower bound on the worst margin (min over ``j ≠ y``)."""
    tolerance: Tensor
    """``[n]``: the margin a proof must exceed (see the module docstring)."""
    certified: Tensor
    """``[n]`` bool: ``worst > tolerance``."""

    @property
    def count(self) -> int:
        return int(self.certified.sum())


def certify(
    graph: BoundGraph,
    x: Tensor,
    y: Tensor,
    eps: float | Tensor,
    *,
    lo: float | None = None,
    hi: float | None = None,
    method: Method = "crown",
    rtol: float = RELATIVE_TOLERANCE,
    max_elements: int = DEFAULT_MAX_ELEMENTS,
) -> Certificate:
    """Certify each sample of ``x`` ``[n, *input_shape]`` (model units) with labels ``y``.

    ``eps`` is a scalar or a per-feature tensor broadcastable to ``x``; ``lo``/``hi`` bound the
    valid input domain (None: unbounded). Samples are processed in chunks so that no
    coefficient tensor holds more than ``max_elements`` values.
    """
    if method not in ("ibp", "crown"):
        raise UsageError(f"unknown certification method {method!r}; use 'ibp' or 'crown'")
    x = x.detach().to(torch.float64)
    if tuple(x.shape[1:]) != graph.input_shape:
        raise UsageError(
            f"samples of shape {list(x.shape[1:])}; the model takes {list(graph.input_shape)}"
        )
    box = _box(x, eps, lo, hi)
    logits = graph.forward(x).flatten(1)
    classes = logits.shape[1]
    y = y.to(device=x.device, dtype=torch.int64)
    if classes < 2 or y.min() < 0 or y.max() >= classes:
        raise UsageError(f"labels must lie in [0, {classes}) for a model with {classes} outputs")
    spec = margin_spec(y, classes).reshape(len(y), classes - 1, *graph.output_shape)
    if method == "crown":
        cost = crown.per_sample_cost(graph, classes - 1, max_elements)
    else:
        cost = 2 * max(node.size for node in graph.nodes)
    chunk = max(1, max_elements // max(cost, 1))
    parts = []
    for start in range(0, len(x), chunk):
        part = slice(start, start + chunk)
        sub = Bounds(box.lower[part], box.upper[part])
        if method == "crown":
            parts.append(crown.lower_bound(graph, sub, spec[part], max_elements=max_elements))
        else:
            out = interval_bounds(graph, sub)
            parts.append(concretize_lower(spec[part], spec.new_zeros(spec[part].shape[:2]), out))
    lower = torch.cat(parts)
    margins = torch.full_like(logits, float("inf"))
    others = _others(y, classes)
    margins.scatter_(1, others, lower)
    worst = lower.amin(dim=1)
    tolerance = rtol * (1 + logits.abs().amax(dim=1))
    return Certificate(method, margins, worst, tolerance, worst > tolerance)


def _box(x: Tensor, eps: float | Tensor, lo: float | None, hi: float | None) -> Bounds:
    radius = torch.as_tensor(eps, dtype=torch.float64, device=x.device)
    if (radius < 0).any():
        raise UsageError("eps must be >= 0")
    lower, upper = x - radius, x + radius
    if lo is not None or hi is not None:
        lower, upper = lower.clamp(lo, hi), upper.clamp(lo, hi)
    return Bounds(lower, upper)


def _others(y: Tensor, classes: int) -> Tensor:
    """``[n, classes − 1]``: every class but the label, in order."""
    every = torch.arange(classes, device=y.device).expand(len(y), classes)
    return every[every != y.unsqueeze(1)].reshape(len(y), classes - 1)


def margin_spec(y: Tensor, classes: int) -> Tensor:
    """``[n, classes − 1, classes]``: rows ``e_y − e_j`` for every ``j ≠ y``."""
    eye = torch.eye(classes, dtype=torch.float64, device=y.device)
    return eye[y].unsqueeze(1) - eye[_others(y, classes)]
