"""The one protocol every backend meets.

A backend answers two questions about a batch of inputs (torch tensors on the backend's
``device``, in the model's input layout): what the *deployed* model scores, and what the
*differentiable* path scores, with autograd attached so an attack can take the input gradient of
any loss. For PyTorch models both paths are the same module; for ONNX the scores come from
onnxruntime and the gradient path is a torch twin of the graph. Tensors stay on the device: no
host round trip per attack step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import torch


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
    """``same-module``, ``onnx-twin-vs-onnxruntime`` or ``float32-copy-vs-module`` (half-precision
    PyTorch models): what the fidelity section compares."""
    notes: tuple[str, ...] = ()
    """Choices made while loading that the report should mention."""
    input_consumers: tuple[str, ...] = ()
    """Op types that read the input directly (ONNX), to spot normalisation done twice."""


class Backend(Protocol):
    """What attacks and the scan engine may ask of a model."""

    info: ModelInfo
    device: torch.device

    def scores(self, x: torch.Tensor) -> torch.Tensor:
        """Class scores ``[N, C]`` (float64, on ``device``) from the deployed runtime."""
        ...

    def differentiable_scores(self, x: torch.Tensor) -> torch.Tensor:
        """Class scores ``[N, C]`` (float64) from the differentiable path, without autograd."""
        ...

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class scores ``[N, C]`` of the differentiable path, with autograd from ``x``.

        ``x`` may be any floating dtype; the backend casts it to what the model takes (the
        cast is part of the graph, so gradients flow back to ``x``).
        """
        ...
