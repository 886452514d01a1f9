"""The one protocol every backend meets.

A backend answers two questions about a batch of inputs (torch tensors on the backend's
``device``, in the model's input layout): what the *deployed* model scores, and what the
*differentiable* path scores, with autograd attached so an attack can take the input gradient of
any loss. For PyTorch models both paths are the same module; for ONNX the scores come from
onnxruntime and the gradient path is a torch twin of the graph. Tensors stay on the device: no
host round trip per attack step.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import torch

    from robustcheck.text.layout import EmbeddingLeaf

SideInputs = Mapping[str, "torch.Tensor"]
"""A multi-input model's inputs other than the attacked one, one row per row of the attacked
batch, passed through unchanged (integer ones too)."""


@dataclass(frozen=True)
class ModelInfo:
    path: str
    format: str
    sha256: str
    input_name: str
    input_shape: tuple[int | None, ...]
    """Declared input shape; ``None`` marks a dynamic dimension."""
    input_dtype: str
    output_name: str
    device: str = "cpu"
    threads: int = 1
    """Intra-op threads of the runtime: fixed, because reductions may differ across counts."""
    differentiable_path: str = "same-module"
    """``same-module``, ``onnx-twin-vs-onnxruntime``, ``float32-copy-vs-module`` (half-precision
    PyTorch models): what the fidelity section compares; or ``none``: a query-only backend, scored
    by its runtime alone (no gradient, no twin)."""
    notes: tuple[str, ...] = ()
    """Choices made while loading that the report should mention."""
    input_consumers: tuple[str, ...] = ()
    """Op types that read the input directly (ONNX), to spot normalisation done twice."""
    blockers: tuple[str, ...] = ()
    """Why a query-only backend has no differentiable path (each reason one clause)."""
    side_inputs: tuple[str, ...] = ()
    """The model's other inputs, fed unchanged from the data (multi-input ONNX models)."""
    embedding: EmbeddingLeaf | None = None
    """Text models: the word-embedding table whose output is the attacked leaf (the input is
    then the packed ``[N, L, H + 4]`` tensor of :mod:`robustcheck.text.layout`)."""


class Backend(Protocol):
    """What attacks and the scan engine may ask of a model."""

    info: ModelInfo
    device: torch.device

    def scores(self, x: torch.Tensor, side: SideInputs | None = None) -> torch.Tensor:
        """Class scores ``[N, C]`` (float64, on ``device``) from the deployed runtime.

        ``side``: the other inputs of a model with several (``info.side_inputs``), row-aligned
        with ``x``; other backends never receive any."""
        ...

    def differentiable_scores(
        self, x: torch.Tensor, side: SideInputs | None = None
    ) -> torch.Tensor:
        """Class scores ``[N, C]`` (float64) from the differentiable path, without autograd."""
        ...

    def forward(self, x: torch.Tensor, side: SideInputs | None = None) -> torch.Tensor:
        """Class scores ``[N, C]`` of the differentiable path, with autograd from ``x``.

        ``x`` may be any floating dtype; the backend casts it to what the model takes (the
        cast is part of the graph, so gradients flow back to ``x``). A query-only backend
        (``info.differentiable_path == "none"``) raises :class:`UnsupportedModelError`.
        """
        ...


def with_side(
    method: Callable[..., torch.Tensor], x: torch.Tensor, side: SideInputs | None
) -> torch.Tensor:
    """``method(x)``, or ``method(x, side)`` when there are side inputs: backends written before
    side inputs existed (``scores(x)``) keep working for single-input models."""
    return method(x) if side is None else method(x, side)


class TextBackend(Backend, Protocol):
    """A text model: inputs are the packed embedding leaf of :mod:`robustcheck.text.layout`."""

    @property
    def table(self) -> Any:
        """The word-embedding table ``[vocab, H]`` (numpy)."""
        ...

    def embed(self, tokens: Any) -> Any:
        """``[N, L, 4]`` token channels (numpy int64) → the packed leaf ``[N, L, H + 4]``."""
        ...

    def token_scores(self, tokens: Any) -> torch.Tensor:
        """Class scores ``[N, C]`` (float64) of the deployed model on real token ids."""
        ...
