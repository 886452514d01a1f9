"""The one protocol every backend meets.

A backend answers two questions about a batch of inputs (numpy arrays in the model's input
layout): what the *deployed* model scores, and what the input gradient of the loss is on a
*differentiable* path. For PyTorch models both paths are the same module; for ONNX the scores
come from onnxruntime and the gradient from a torch twin of the graph.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from robustcheck.backends.output import OutputKind


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
    """``same-module`` or ``onnx-twin-vs-onnxruntime``: what the fidelity section compares."""
    notes: tuple[str, ...] = ()
    """Choices made while loading that the report should mention."""
    input_consumers: tuple[str, ...] = ()
    """Op types that read the input directly (ONNX), to spot normalisation done twice."""


@dataclass(frozen=True)
class GradientResult:
    gradient: np.ndarray
    """∇ₓJ up to a positive per-sample factor (its sign is exact), same shape as x, float64."""
    scores: np.ndarray
    """The differentiable path's class scores ``[N, C]`` (float64), for fidelity checks."""


class Backend(Protocol):
    """What attacks and the runner may ask of a model."""

    info: ModelInfo

    def scores(self, x: np.ndarray) -> np.ndarray:
        """Class scores ``[N, C]`` (float64) from the deployed runtime."""
        ...

    def differentiable_scores(self, x: np.ndarray) -> np.ndarray:
        """Class scores ``[N, C]`` (float64) from the differentiable path, for fidelity checks."""
        ...

    def loss_gradient(self, x: np.ndarray, y: np.ndarray, kind: OutputKind) -> GradientResult:
        """∇ₓJ of each sample's classification loss, up to a positive per-sample factor."""
        ...
