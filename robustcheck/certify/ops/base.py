"""What a bound rule is: the contract every supported ONNX op meets.

A rule works on one *variable* value per input (the values that depend on the model input);
constants are bound into the rule when it is built. Every tensor a rule sees carries a leading
batch axis that the engine owns; CROWN's coefficient tensors carry a spec axis after it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from torch import Tensor

from robustcheck.certify.bounds import Bounds


class Linear(Protocol):
    """A node's linear relaxation, read backwards (CROWN).

    ``backward(a)`` takes coefficients ``a`` ``[batch, spec, *output]`` on the node's output and
    returns the coefficients on each variable input (``[batch, spec, *input_i]``) and the
    constant ``[batch, spec]`` such that ``a · output >= Σ a_i · input_i + constant`` over the
    box the relaxation was built for.
    """

    def backward(self, a: Tensor) -> tuple[tuple[Tensor, ...], Tensor]: ...


class BoundRule(Protocol):
    """One ONNX node, ready for interval (IBP) and linear (CROWN) bound propagation."""

    needs_bounds: bool
    """True for nonlinear rules, whose relaxation depends on the bounds of their inputs."""

    def forward(self, *inputs: Tensor) -> Tensor:
        """The op itself, on batched values."""
        ...

    def ibp(self, *inputs: Bounds) -> Bounds:
        """Bounds on the output from bounds on each variable input."""
        ...

    def linearize(self, *inputs: Bounds) -> Linear:
        """The linear relaxation valid over the given input bounds (affine rules ignore them)."""
        ...


class NonlinearRule(BoundRule, Protocol):
    """A rule with ``needs_bounds`` true."""

    def unstable(self, bounds: Bounds) -> Tensor:
        """For a nonlinear rule: which neurons of its input (``[batch, *shape]`` bool) a tighter
        bound would loosen the relaxation of; the others are exact already (a ReLU's stable
        neurons). CROWN refines only those."""
        ...


class RuleRefused(Exception):
    """A rule cannot be built for this node; the message says why (one clause, no node name)."""


Value = Tensor | None
"""A constant input as folded at build time, or None where the input is the variable."""


@dataclass(frozen=True)
class NodeContext:
    """Everything a rule factory may read about its node."""

    op_type: str
    attributes: Mapping[str, Any]
    inputs: Sequence[Value]
    """One entry per ONNX input: the folded constant, or None for a variable input (omitted
    optional inputs are constants of value None too: see ``omitted``)."""
    omitted: frozenset[int]
    variable_shapes: Sequence[tuple[int, ...]]
    """Per-sample shapes of the variable inputs, in input order."""
    nominal_batch: int
    """The batch size the model's static shapes assume (its declared one, else 1)."""
    evaluate: Callable[..., Tensor]
    """The op's reference implementation (robustcheck's ONNX interpreter), attributes bound:
    call it with every input, constants included, batched where variable."""

    @property
    def variable_positions(self) -> list[int]:
        return [i for i, v in enumerate(self.inputs) if v is None and i not in self.omitted]

    def constant(self, position: int) -> Tensor | None:
        """The constant at ``position``; None where the optional input is omitted."""
        if position >= len(self.inputs) or position in self.omitted:
            return None
        value = self.inputs[position]
        if value is None:
            raise RuleRefused(
                f"input #{position} depends on the model input, it must be a constant"
            )
        return value

    def call_with(self, variables: Sequence[Tensor]) -> Tensor:
        """``evaluate`` with the variable inputs replaced by ``variables`` in order."""
        supplied = iter(variables)
        args = [
            None if i in self.omitted else (next(supplied) if v is None else v)
            for i, v in enumerate(self.inputs)
        ]
        while args and args[-1] is None and (len(args) - 1) in self.omitted:
            args.pop()
        return self.evaluate(*args)


RuleFactory = Callable[[NodeContext], BoundRule]
