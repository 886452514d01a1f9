"""CROWN: backward linear bound propagation (Zhang et al. 2018,
https://arxiv.org/abs/1811.00866) on a :class:`BoundGraph`.

Every nonlinear node is relaxed with lines that hold over its input's bounds; those bounds come
from CROWN itself run backwards from that input node (an identity spec over its neurons), kept
to the tighter of that and IBP per neuron; a node too large for ``max_elements`` falls back to
IBP. The final spec is then propagated back to the input and concretised over the input box.
"""

from __future__ import annotations

import logging
from typing import cast

import torch
from torch import Tensor

from robustcheck.certify.bounds import Bounds, concretize_lower
from robustcheck.certify.graph import BoundGraph
from robustcheck.certify.ops.base import Linear, NonlinearRule

logger = logging.getLogger(__name__)


def backward(
    graph: BoundGraph, target: int, spec: Tensor, linears: dict[int, Linear]
) -> tuple[Tensor, Tensor]:
    """Coefficients ``[batch, S, *input]`` and constant ``[batch, S]`` of a linear lower bound
    on ``spec · value(target)`` (``spec``: ``[batch, S, *shape(target)]``), valid wherever the
    relaxations in ``linears`` are."""
    pending: dict[int, Tensor] = {target: spec}
    bias = spec.new_zeros(spec.shape[:2])
    for index in reversed(graph.ancestors(target)[1:]):
        a = pending.pop(index, None)
        if a is None:
            continue
        node = graph.nodes[index]
        backs, constant = linears[index].backward(a)
        bias = bias + constant
        for source, back in zip(node.inputs, backs, strict=True):
            pending[source] = pending[source] + back if source in pending else back
    first = pending.get(0)
    if first is None:  # the target does not depend on the input
        first = spec.new_zeros((*spec.shape[:2], *graph.input_shape))
    return first, bias


def _largest_upstream(graph: BoundGraph, target: int) -> int:
    return max(graph.nodes[i].size for i in graph.ancestors(target))


def _refined(graph: BoundGraph) -> frozenset[int]:
    """The nodes worth a CROWN pass of their own: affine nodes read by a relaxation, behind at
    least one nonlinear node (before any, IBP on an affine map of the box is already exact;
    the output of a monotone elementwise op is bounded exactly from its input's bounds)."""
    nonlinear = {
        i for i, node in enumerate(graph.nodes) if node.rule is not None and node.rule.needs_bounds
    }
    return frozenset(
        i
        for i in graph.relaxed_inputs
        if i not in nonlinear and i != 0 and nonlinear.intersection(graph.ancestors(i))
    )


def relaxations(
    graph: BoundGraph, box: Bounds, *, max_elements: int
) -> tuple[dict[int, Linear], dict[int, Bounds]]:
    """Every node's linear relaxation, with the intermediate bounds they were built from."""
    batch = box.lower.shape[0]
    refined = _refined(graph)
    bounds: dict[int, Bounds] = {0: box}
    linears: dict[int, Linear] = {}
    for index in graph.ancestors(graph.output)[1:]:
        node = graph.nodes[index]
        assert node.rule is not None
        inputs = [bounds[i] for i in node.inputs]
        linears[index] = node.rule.linearize(*inputs)
        bounds[index] = node.rule.ibp(*inputs)
        if index in refined:
            cost = batch * 2 * node.size * _largest_upstream(graph, index)
            if cost <= max_elements:
                bounds[index] = _crown_box(graph, index, box, linears, bounds[index])
            else:
                logger.debug("%s: IBP bounds only (%d elements)", node.label, cost)
    return linears, bounds


def _crown_box(
    graph: BoundGraph, index: int, box: Bounds, linears: dict[int, Linear], ibp: Bounds
) -> Bounds:
    """CROWN bounds on the neurons of node ``index`` that any consumer wants tighter,
    intersected with ``ibp``."""
    node = graph.nodes[index]
    wanted = torch.zeros(ibp.lower.shape[1:], dtype=torch.bool, device=ibp.lower.device)
    for consumer in graph.nodes:
        if index in consumer.inputs and consumer.rule is not None and consumer.rule.needs_bounds:
            wanted |= cast(NonlinearRule, consumer.rule).unstable(ibp).any(dim=0)
    neurons = wanted.flatten().nonzero().squeeze(1)
    if not len(neurons):
        return ibp
    size, batch = node.size, box.lower.shape[0]
    rows = torch.zeros(len(neurons), size, dtype=box.lower.dtype, device=box.lower.device)
    rows[torch.arange(len(neurons)), neurons] = 1
    spec = torch.cat([rows, -rows]).reshape(1, 2 * len(neurons), *node.shape)
    coefficients, bias = backward(graph, index, spec.expand(batch, -1, *node.shape), linears)
    lower = concretize_lower(coefficients, bias, box)
    tight_lower, tight_upper = ibp.lower.flatten(1).clone(), ibp.upper.flatten(1).clone()
    count = len(neurons)
    tight_lower[:, neurons] = torch.maximum(tight_lower[:, neurons], lower[:, :count])
    tight_upper[:, neurons] = torch.minimum(tight_upper[:, neurons], -lower[:, count:])
    shape = (batch, *node.shape)
    return Bounds(tight_lower.reshape(shape), tight_upper.reshape(shape))


def lower_bound(graph: BoundGraph, box: Bounds, spec: Tensor, *, max_elements: int) -> Tensor:
    """A lower bound ``[batch, S]`` on ``spec · output`` over ``box``."""
    linears, _ = relaxations(graph, box, max_elements=max_elements)
    coefficients, bias = backward(graph, graph.output, spec, linears)
    return concretize_lower(coefficients, bias, box)


def per_sample_cost(graph: BoundGraph, spec_size: int, max_elements: int) -> int:
    """Elements the largest coefficient tensor holds per sample (for chunking)."""
    largest = max(node.size for node in graph.nodes)
    cost = spec_size * largest
    for index in _refined(graph):
        node_cost = 2 * graph.nodes[index].size * _largest_upstream(graph, index)
        if node_cost <= max_elements:
            cost = max(cost, node_cost)
    return cost
