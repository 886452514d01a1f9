"""The student architectures: an MLP for feature vectors, a small CNN for images.

Both standardise their raw inputs themselves (statistics of the training data baked in as
buffers), so the saved surrogate reads exactly what the target reads, whatever the features'
scales, and ``--surrogate`` needs no ``--mean``/``--std``.
"""

from __future__ import annotations

import torch
from torch import nn

HIDDEN = 64
"""Width of the MLP's two hidden layers."""
CHANNELS = (16, 32)
"""Channels of the CNN's two convolutions."""


class Standardise(nn.Module):
    """``(x - mean) / std`` with fixed statistics; constant features are only centred."""

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("mean", mean.to(torch.float32))
        self.register_buffer("std", torch.where(std > 0, std, torch.ones_like(std)).float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class ToChannelsFirst(nn.Module):
    """NHWC images to NCHW, inside the model, so the surrogate reads the data's own layout."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(0, 3, 1, 2)


def describe(sample_shape: tuple[int, ...], n_classes: int) -> str:
    if is_image(sample_shape):
        return f"CNN ({'→'.join(str(c) for c in CHANNELS)} channels → {n_classes} classes)"
    features = 1
    for d in sample_shape:
        features *= d
    return f"MLP ({features}→{HIDDEN}→{HIDDEN}→{n_classes})"


def is_image(sample_shape: tuple[int, ...]) -> bool:
    return len(sample_shape) == 3


def build_student(x: torch.Tensor, n_classes: int, layout: str = "NCHW") -> nn.Module:
    """A fresh student for samples like ``x`` (the training inputs, float32), standardised on
    them: per feature for an MLP, per channel for a CNN. Initialised from torch's current RNG."""
    shape = tuple(x.shape[1:])
    if not is_image(shape):
        flat = x.reshape(x.shape[0], -1)
        return nn.Sequential(
            nn.Flatten(),
            Standardise(flat.mean(0), flat.std(0)),
            nn.Linear(flat.shape[1], HIDDEN),
            nn.ReLU(),
            nn.Linear(HIDDEN, HIDDEN),
            nn.ReLU(),
            nn.Linear(HIDDEN, n_classes),
        )
    nchw = x.permute(0, 3, 1, 2) if layout == "NHWC" else x
    mean = nchw.mean(dim=(0, 2, 3)).reshape(1, -1, 1, 1)
    std = nchw.std(dim=(0, 2, 3)).reshape(1, -1, 1, 1)
    first, second = CHANNELS
    return nn.Sequential(
        *([ToChannelsFirst()] if layout == "NHWC" else []),
        Standardise(mean, std),
        nn.Conv2d(nchw.shape[1], first, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(first, second, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(4),
        nn.Flatten(),
        nn.Linear(second * 16, HIDDEN),
        nn.ReLU(),
        nn.Linear(HIDDEN, n_classes),
    )
