"""The classification loss J, computed in float64 from the model's outputs.

float32 cross-entropy rounds the true-class term away on confidently classified samples and
returns an exactly zero gradient there; in float64 the sign of the gradient survives.
"""

from __future__ import annotations

import torch

from robustcheck.backends.output import OutputKind


def classification_loss(scores: torch.Tensor, y: torch.Tensor, kind: OutputKind) -> torch.Tensor:
    """Sum over the batch of per-sample losses (sum keeps each sample's gradient unscaled)."""
    scores = scores.to(torch.float64)
    if kind is OutputKind.PROBABILITIES:
        log_probs = torch.log(scores.clamp_min(torch.finfo(torch.float64).tiny))
    else:
        log_probs = torch.log_softmax(scores, dim=1)
    return torch.nn.functional.nll_loss(log_probs, y, reduction="sum")
