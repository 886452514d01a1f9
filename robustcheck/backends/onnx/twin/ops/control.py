"""Control flow: If, Loop and Scan, run eagerly.

The twin executes real tensors node by node, so If reads its condition and runs the chosen
branch, and Loop and Scan iterate in Python; each subgraph runs through the twin's own executor
(see robustcheck.backends.onnx.twin.program) and autograd records whatever path was taken.
The ONNX versions after the first registered here changed only the types they accept.
"""

from __future__ import annotations

import torch
from torch import Tensor

from robustcheck.backends.onnx.twin.registry import Subgraph, op
from robustcheck.errors import UnsupportedModelError


def _flag(value: Tensor, name: str) -> bool:
    if value.numel() != 1:
        raise UnsupportedModelError(
            f"{name} must hold a single element, got shape {list(value.shape)}"
        )
    return bool(value.reshape(()).item())


@op("If", 1)
def if_(cond: Tensor, *, then_branch: Subgraph, else_branch: Subgraph) -> tuple[Tensor, ...]:
    return then_branch() if _flag(cond, "If's condition") else else_branch()


@op("Loop", 1)
def loop(
    max_trip_count: Tensor | None,
    cond: Tensor | None,
    *initial: Tensor,
    body: Subgraph,
) -> tuple[Tensor, ...]:
    """``for i in range(M)`` while ``cond``: the body returns the next condition, the carried
    values, and per-iteration scan outputs stacked along a new first axis."""
    trips = None if max_trip_count is None else int(max_trip_count.reshape(()).item())
    keep_going = True if cond is None else _flag(cond, "Loop's condition")
    carried = list(initial)
    scanned: list[list[Tensor]] = []
    iteration = 0
    while keep_going and (trips is None or iteration < trips):
        outputs = body(
            torch.tensor(iteration, dtype=torch.int64),
            torch.tensor(keep_going),
            *carried,
        )
        keep_going = _flag(outputs[0], "Loop's body condition")
        carried = list(outputs[1 : 1 + len(carried)])
        extra = outputs[1 + len(carried) :]
        if not scanned:
            scanned = [[] for _ in extra]
        for values, value in zip(scanned, extra, strict=True):
            values.append(value)
        iteration += 1
    # With no iteration there is nothing to stack: the scan outputs' shapes are unknown, and
    # the executor refuses an output it is not given.
    return (*carried, *(torch.stack(values) for values in scanned))


@op("Scan", 9)
def scan(
    *states_and_inputs: Tensor,
    body: Subgraph,
    num_scan_inputs: int,
    scan_input_axes: list[int] | None = None,
    scan_input_directions: list[int] | None = None,
    scan_output_axes: list[int] | None = None,
    scan_output_directions: list[int] | None = None,
) -> tuple[Tensor, ...]:
    """The body runs once per slice of the scan inputs, carrying the states; its remaining
    outputs are stacked along ``scan_output_axes``."""
    states = list(states_and_inputs[: len(states_and_inputs) - num_scan_inputs])
    inputs = list(states_and_inputs[len(states) :])
    in_axes = scan_input_axes or [0] * len(inputs)
    in_dirs = scan_input_directions or [0] * len(inputs)
    slices = [
        torch.movedim(x, axis % x.dim(), 0).flip(0)
        if reverse
        else torch.movedim(x, axis % x.dim(), 0)
        for x, axis, reverse in zip(inputs, in_axes, in_dirs, strict=True)
    ]
    lengths = {len(s) for s in slices}
    if len(lengths) > 1:
        raise UnsupportedModelError(f"Scan's inputs have different lengths {sorted(lengths)}")
    steps = lengths.pop() if lengths else 0
    scanned: list[list[Tensor]] = []
    for t in range(steps):
        outputs = body(*states, *(s[t] for s in slices))
        states = list(outputs[: len(states)])
        extra = outputs[len(states) :]
        if not scanned:
            scanned = [[] for _ in extra]
        for values, value in zip(scanned, extra, strict=True):
            values.append(value)
    out_axes = scan_output_axes or [0] * len(scanned)
    out_dirs = scan_output_directions or [0] * len(scanned)
    stacked = []
    for values, axis, reverse in zip(scanned, out_axes, out_dirs, strict=True):
        whole = torch.stack(values[::-1] if reverse else values)
        stacked.append(torch.movedim(whole, 0, axis % whole.dim()))
    return (*states, *stacked)
