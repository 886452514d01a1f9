"""An explicit, versioned table of ONNX operator implementations.

Modeled on the ONNX reference evaluator (one small function per op, attributes bound as
keyword arguments with the schema defaults, the implementation picked by ``since_version``)
and on onnx2torch's ``@add_converter`` (a duplicate registration is a bug, so it raises). Each
implementation is declared beside its definition with :func:`op`; the declarations are the
built-in table, and every caller builds its own :class:`OpRegistry` from it
(robustcheck.backends.onnx.twin.ops.default_registry) and may add to that.
"""

from __future__ import annotations

import inspect
from bisect import bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from torch import Tensor

OpResult = Tensor | tuple[Tensor | None, ...]
OpFunction = Callable[..., OpResult]
Subgraph = Callable[..., tuple[Tensor, ...]]
"""What an op receives for a graph attribute (If's branches, Loop's body): a callable taking the
subgraph's inputs in order and returning its outputs, run by the twin's executor with the
node's enclosing scope visible."""

OUTPUT_COUNT_PARAM = "output_count"
"""An op function that declares this keyword-only parameter receives the number of outputs
its node lists (Split needs it to split into equal parts); it is never an ONNX attribute."""

DEFAULT_DOMAIN = ""
_DEFAULT_DOMAIN_ALIASES = frozenset({"", "ai.onnx"})


def normalize_domain(domain: str) -> str:
    """``""`` and ``"ai.onnx"`` name the same operator set."""
    return DEFAULT_DOMAIN if domain in _DEFAULT_DOMAIN_ALIASES else domain


@dataclass(frozen=True)
class OpSpec:
    """One implementation of one operator, valid from ``since_version`` on."""

    domain: str
    op_type: str
    since_version: int
    fn: OpFunction
    differentiable: bool
    straight_through: bool
    """It rounds to an integer type on the way forward and passes the gradient straight through
    (BPDA); its integer outputs carry the gradient as floating tensors holding the integers."""
    attributes: frozenset[str]
    """The ONNX attributes the implementation understands (its keyword-only parameters)."""
    wants_output_count: bool

    @property
    def qualified_name(self) -> str:
        return f"{self.domain}::{self.op_type}"


def _describe_signature(fn: OpFunction) -> tuple[frozenset[str], bool]:
    params = inspect.signature(fn).parameters.values()
    keyword_only = {p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY}
    wants_count = OUTPUT_COUNT_PARAM in keyword_only
    return frozenset(keyword_only - {OUTPUT_COUNT_PARAM}), wants_count


class OpRegistry:
    """Maps ``(domain, op_type, since_version)`` to an :class:`OpSpec`."""

    def __init__(self) -> None:
        self._specs: dict[tuple[str, str], dict[int, OpSpec]] = {}

    def add(
        self,
        domain: str,
        op_type: str,
        since_version: int,
        fn: OpFunction,
        *,
        differentiable: bool = True,
        straight_through: bool = False,
    ) -> None:
        """Register ``fn`` for ``op_type`` from opset ``since_version`` on.

        Raises ``ValueError`` when the same ``(domain, op_type, since_version)`` is registered
        twice: silently replacing an implementation hides which one runs.
        """
        domain = normalize_domain(domain)
        if since_version < 1:
            raise ValueError(f"since_version must be >= 1, got {since_version}")
        versions = self._specs.setdefault((domain, op_type), {})
        if since_version in versions:
            raise ValueError(
                f"{domain}::{op_type} since opset {since_version} is already registered"
            )
        attributes, wants_count = _describe_signature(fn)
        versions[since_version] = OpSpec(
            domain=domain,
            op_type=op_type,
            since_version=since_version,
            fn=fn,
            differentiable=differentiable,
            straight_through=straight_through,
            attributes=attributes,
            wants_output_count=wants_count,
        )

    def lookup(self, domain: str, op_type: str, opset: int) -> OpSpec | None:
        """The implementation with the greatest ``since_version <= opset``, if any."""
        versions = self._specs.get((normalize_domain(domain), op_type))
        if not versions:
            return None
        ordered = sorted(versions)
        position = bisect_right(ordered, opset)
        return versions[ordered[position - 1]] if position else None

    def since_versions(self, domain: str, op_type: str) -> list[int]:
        return sorted(self._specs.get((normalize_domain(domain), op_type), {}))

    def op_types(self) -> list[tuple[str, str]]:
        """Every registered ``(domain, op_type)``, sorted."""
        return sorted(self._specs)

    def __iter__(self) -> Iterator[OpSpec]:
        for key in sorted(self._specs):
            versions = self._specs[key]
            for since in sorted(versions):
                yield versions[since]

    def __len__(self) -> int:
        return sum(len(versions) for versions in self._specs.values())


@dataclass(frozen=True)
class Declaration:
    """An op implementation as its module declares it (see :func:`op`)."""

    domain: str
    op_type: str
    since_version: int
    fn: OpFunction
    differentiable: bool
    straight_through: bool = False


_Declared = TypeVar("_Declared", bound=OpFunction)

DECLARED: list[Declaration] = []
"""Every built-in implementation, in the order their modules declared them; only :func:`op`
appends to it (at import), and :class:`OpRegistry` refuses a duplicate when it is built."""


def op(
    op_type: str,
    since_version: int,
    *,
    domain: str = DEFAULT_DOMAIN,
    differentiable: bool = True,
    straight_through: bool = False,
) -> Callable[[_Declared], _Declared]:
    """Declare the decorated function as ``domain::op_type`` from opset ``since_version`` on;
    stack it for each opset version the same function serves. The function keeps its own
    signature, so ops may call one another (QLinearConv computes with Conv)."""

    def declare(fn: _Declared) -> _Declared:
        DECLARED.append(
            Declaration(domain, op_type, since_version, fn, differentiable, straight_through)
        )
        return fn

    return declare


def registry_of(declarations: list[Declaration]) -> OpRegistry:
    registry = OpRegistry()
    for d in declarations:
        registry.add(
            d.domain,
            d.op_type,
            d.since_version,
            d.fn,
            differentiable=d.differentiable,
            straight_through=d.straight_through,
        )
    return registry
