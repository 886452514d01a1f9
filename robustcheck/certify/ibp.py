"""Interval bound propagation (Gowal et al. 2018, https://arxiv.org/abs/1810.12715): each node's
box from its inputs' boxes, in topological order."""

from __future__ import annotations

from robustcheck.certify.bounds import Bounds
from robustcheck.certify.graph import BoundGraph


def interval_bounds(graph: BoundGraph, box: Bounds, target: int | None = None) -> Bounds:
    """Bounds on node ``target`` (default: the output) over inputs in ``box``; each
    intermediate box is released after its last use."""
    target = graph.output if target is None else target
    order = graph.ancestors(target)
    last_use = {
        i: position for position, index in enumerate(order) for i in graph.nodes[index].inputs
    }
    boxes: dict[int, Bounds] = {0: box}
    for position, index in enumerate(order[1:], start=1):
        node = graph.nodes[index]
        assert node.rule is not None
        boxes[index] = node.rule.ibp(*(boxes[i] for i in node.inputs))
        for i in node.inputs:
            if last_use[i] == position and i != target:
                boxes.pop(i, None)
    return boxes[target]
