"""An independent FGSM for cross-checking: plain torch, float64 loss, no robustcheck code."""

from __future__ import annotations

import numpy as np
import torch


def fgsm_errors(
    module: torch.nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    eps: float,
    lo: float = 0.0,
    hi: float = 1.0,
) -> int:
    xt = torch.from_numpy(x).requires_grad_(True)
    logits = module(xt).double()
    loss = torch.nn.functional.cross_entropy(logits, torch.from_numpy(y), reduction="sum")
    (grad,) = torch.autograd.grad(loss, xt)
    adv = np.clip(x.astype(np.float64) + eps * np.sign(grad.double().numpy()), lo, hi).astype(
        np.float32
    )
    with torch.no_grad():
        pred = module(torch.from_numpy(adv)).argmax(1).numpy()
    return int((pred != y).sum())
